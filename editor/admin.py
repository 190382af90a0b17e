"""Django admin: where an operator inspects documents and live editing sessions."""

from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest

from .models import Document, EditingSession


class ActiveNowFilter(admin.SimpleListFilter):
    title = "active now"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Connected"), ("no", "Disconnected")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(disconnected_at=None)
        if self.value() == "no":
            return queryset.exclude(disconnected_at=None)
        return queryset


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["slug", "size", "rev", "people_now", "updated_at"]
    search_fields = ["slug"]
    # The text only changes through operations, so that every open tab
    # follows; editing it here would fork the document from its history.
    readonly_fields = ["text", "rev", "created_at", "updated_at"]
    fields = ["slug", "text", "rev", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(people_now=Count("sessions", filter=Q(sessions__disconnected_at=None)))
        )

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    @admin.display(description="characters")
    def size(self, document: Document) -> int:
        return len(document.text)

    @admin.display(description="people now", ordering="people_now")
    def people_now(self, document: Document) -> int:
        return document.people_now


@admin.register(EditingSession)
class EditingSessionAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "document",
        "client_address",
        "worker",
        "connected_at",
        "disconnected_at",
        "is_active",
    ]
    list_filter = [ActiveNowFilter, "worker"]
    list_select_related = ["document"]
    search_fields = ["session_id", "document__slug", "client_address", "user_agent"]
    date_hierarchy = "connected_at"
    readonly_fields = [
        "document",
        "session_id",
        "client_address",
        "user_agent",
        "worker",
        "connected_at",
        "disconnected_at",
    ]

    @admin.display(boolean=True, description="active")
    def is_active(self, session: EditingSession) -> bool:
        return session.is_active

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
