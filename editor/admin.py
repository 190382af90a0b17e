"""Django admin: where an operator inspects documents and live sessions, and acts on them."""

import re
import secrets

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import ot, selectors, services
from .access import grants
from .access.rules import Visibility
from .api import tokens
from .live import notify, worker
from .models import (
    ApiToken,
    Document,
    EditingSession,
    Share,
    ShareLink,
    Version,
    WebhookDelivery,
    WebhookSubscription,
)
from .network import client_address
from .ot.server import Edit, EditRejected
from .store import documents, history
from .store.drivers import database_unavailable
from .webhooks import records
from .wire import protocol

RECENT_OPERATIONS = 50


class RestoreForm(forms.Form):
    rev = forms.IntegerField(label="Revision", min_value=0, max_value=protocol.MAX_REVISION)


class RevertForm(forms.Form):
    author = forms.ChoiceField(label="Author")
    since = forms.DateTimeField(label="Edits made since (optional)", required=False)
    until = forms.DateTimeField(label="Edits made until (optional)", required=False)

    def __init__(self, *args, authors: dict[str, dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["author"].choices = [
            (key, f"{author['name']} ({key}, {author['operations']} operations)")
            for key, author in authors.items()
        ]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("since is after until")
        return cleaned


_BROWSERS = [
    ("HeadlessChrome", "Headless Chrome"),
    ("Edg", "Edge"),
    ("OPR", "Opera"),
    ("Firefox", "Firefox"),
    ("Chrome", "Chrome"),
    ("Version", "Safari"),  # Safari says its version as Version/17.1
]
_SYSTEMS = [
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def browser_of(user_agent: str) -> str:
    """ "Chrome 156 on Linux" out of a User-Agent header: enough to tell someone's phone from
    their laptop; anything else (a script's client) is shown as it says itself, shortened."""
    browser = next(
        (
            f"{label} {found.group(1)}"
            for token, label in _BROWSERS
            if (found := re.search(rf"(?<![A-Za-z]){token}/(\d+)", user_agent))
        ),
        None,
    )
    system = next((label for token, label in _SYSTEMS if token in user_agent), None)
    if browser is None:
        return user_agent[:40] or "unknown"
    return f"{browser} on {system}" if system else browser


class TabColumns:
    """The columns that tell one person's tabs apart (one query per live row shown: the
    numbers are of the live connections, whatever the list is filtered by)."""

    @admin.display(description="tab", ordering="connected_at")
    def tab_of(self, session: EditingSession) -> str:
        tab = selectors.session_tab(session=session)
        if tab is None:
            return "—"
        number, tabs = tab
        return f"tab {number} of {tabs}" if tabs > 1 else "its only tab"

    @admin.display(description="browser", ordering="user_agent")
    def browser(self, session: EditingSession) -> str:
        return browser_of(session.user_agent)


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


class LiveSessionInline(TabColumns, admin.TabularInline):
    """The people connected to a document right now, one person's tabs told apart."""

    model = EditingSession
    verbose_name = "live session"
    verbose_name_plural = "live sessions"
    fields = [
        "display_name",
        "tab_of",
        "browser",
        "connected_at",
        "user",
        "client_address",
        "worker",
        "session_id",
        "last_seen",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).filter(disconnected_at=None).select_related("user")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ShareInline(admin.TabularInline):
    """The people the owner shared the document with; a change reaches their open pages at once."""

    model = Share
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 0


class VersionInline(admin.TabularInline):
    """Named versions: marks on the history, saved from the page or the API; shown, not made
    here (a version names a revision someone looked at)."""

    model = Version
    fields = ["rev", "name", "created_by_name", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = True
    verbose_name_plural = "Named versions"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ShareLinkInline(admin.TabularInline):
    """The document's links. Made on its sharing page (the token is shown once, there); revoked
    with the action on the links' own list."""

    model = ShareLink
    fields = ["role", "hint", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["slug", "owner", "visibility", "size", "rev", "people_now", "read_only", "updated_at"]
    list_filter = ["visibility", "read_only"]
    list_select_related = ["owner"]
    search_fields = ["slug", "owner__username"]
    # The text only changes through operations, so that every open tab
    # follows; editing it here would fork the document from its history.
    # Owner and visibility are saved alone (save_model), and take effect live.
    readonly_fields = [
        "current_text",
        "rev",
        "read_only",
        "created_at",
        "updated_at",
        "history_kept",
        "recent_operations",
    ]
    fields = ["slug", "owner", "visibility", *readonly_fields]
    raw_id_fields = ["owner"]
    inlines = [ShareInline, ShareLinkInline, LiveSessionInline, VersionInline]
    actions = ["make_read_only", "make_writable"]

    def get_urls(self):
        revisions = path(
            "<path:object_id>/revisions/",
            self.admin_site.admin_view(self.revisions_view),
            name="editor_document_revisions",
        )
        return [revisions, *super().get_urls()]

    def revisions_view(self, request: HttpRequest, object_id: str):
        """Restore a revision, or revert one author's edits: each one edit by the operator,
        committed through this worker's committer, so that every open tab follows."""
        document = self.get_object(request, object_id)
        if document is None:
            raise Http404(f"no document with id {object_id}")
        if not self.has_change_permission(request, document):
            raise PermissionDenied
        authors = selectors.document_authors(document_id=document.pk)
        posted = request.POST if request.method == "POST" else None
        restore_form = RestoreForm(posted if posted and posted.get("do") == "restore" else None)
        revert_form = RevertForm(posted if posted and posted.get("do") == "revert" else None, authors=authors)
        for form, correct in ((restore_form, self._restoring), (revert_form, self._reverting)):
            if form.is_bound and form.is_valid():
                try:
                    self._commit(request, document, correct(document, form.cleaned_data))
                except (history.Forgotten, history.Future) as missing:
                    form.add_error(None, str(missing))
                except EditRejected as rejected:
                    form.add_error(None, rejected.message)
                except worker.Draining:
                    form.add_error(None, "This server is restarting; send the form again.")
                except Exception as error:
                    if not database_unavailable(error):
                        raise
                    form.add_error(None, "The database cannot be reached at the moment; try again.")
                else:
                    return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Revisions of {document.slug}",
            "document": document,
            "kept": self.history_kept(document),
            "restore_form": restore_form,
            "revert_form": revert_form,
            "versions": selectors.versions(document_id=document.pk),
        }
        return TemplateResponse(request, "admin/editor/document/revisions.html", context)

    @staticmethod
    def _restoring(document: Document, fields: dict) -> history.Correction:
        return history.restoring(document_id=document.pk, rev=fields["rev"])

    @staticmethod
    def _reverting(document: Document, fields: dict) -> history.Correction:
        sessions = selectors.sessions_of_authors(document_id=document.pk, authors=[fields["author"]])
        return history.reverting(
            document_id=document.pk, session_ids=sessions, since=fields["since"], until=fields["until"]
        )

    def _commit(self, request: HttpRequest, document: Document, correction: history.Correction) -> None:
        if not hasattr(request, "scope"):
            # Only a request Daphne serves runs beside the worker whose committer every tab
            # follows; elsewhere (a WSGI server, a test client) a worker would be made for it.
            raise EditRejected("unavailable", "restores and reverts need the editor's own server")
        if ot.is_noop(correction.op):
            self.message_user(request, "Nothing to change: the text is already so.", messages.INFO)
            return
        session_id = services.operator_session(
            user=request.user,
            document_id=document.pk,
            client_address=client_address(request.scope, settings.TRUSTED_PROXY_NETWORKS),
            user_agent=request.headers.get("User-Agent", ""),
        )
        edit = Edit(
            slug=document.slug,
            base_rev=correction.head,
            op=correction.op,
            op_id="o-" + secrets.token_hex(16),
            session_id=session_id,
        )
        accepted = async_to_sync(_submit)(edit)
        self.message_user(request, f"Done: revision {accepted.operation.rev}, by you.", messages.SUCCESS)

    def save_model(self, request, obj: Document, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
        elif {"owner", "visibility"} & set(form.changed_data):
            # Not obj.save(): that would write back the revision and length
            # read with the form, over the edits committed since.
            grants.set_document_rights(
                document_id=obj.pk, visibility=Visibility(obj.visibility), owner_id=obj.owner_id
            )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(people_now=selectors.PEOPLE_NOW)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    @admin.display(description="characters", ordering="length")
    def size(self, document: Document) -> int:
        return document.length

    @admin.display(description="text")
    def current_text(self, document: Document) -> str:
        if document.pk is None:
            return ""
        # A read-only textarea keeps spaces and wraps long lines with no inline style, which
        # the Content-Security-Policy refuses; the newline after the tag is the one HTML drops.
        return format_html(
            '<textarea readonly rows="12" class="vLargeTextField" aria-label="text of {}">\n{}</textarea>',
            document.slug,
            documents.snapshot(document_id=document.pk).text,
        )

    @admin.display(description="people now", ordering="people_now")
    def people_now(self, document: Document) -> int:
        return document.people_now

    @admin.display(description="history kept")
    def history_kept(self, document: Document) -> str:
        if document.pk is None:
            return ""
        kept = document.operations.aggregate(first=Min("rev"), count=Count("pk"))
        milestones = document.milestones.count()
        if kept["count"] == 0:
            return f"no operations kept; {milestones} milestone(s)"
        return (
            f"revisions {kept['first']} to {document.rev}: {kept['count']} operation(s),"
            f" {milestones} milestone(s) (every {settings.EDITOR_HISTORY_MILESTONE_EVERY} revisions)"
        )

    @admin.display(description=f"history (latest {RECENT_OPERATIONS} operations)")
    def recent_operations(self, document: Document) -> str:
        operations = documents.recent_operations(document_id=document.pk, limit=RECENT_OPERATIONS)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((op.rev, stored_at, op.session_id, _summary(op.op)) for op, stored_at in operations),
        )
        return format_html(
            "<table><thead><tr><th>revision</th><th>at</th><th>session</th><th>change</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Make read-only (live pages stop accepting edits)", permissions=["change"])
    def make_read_only(self, request, queryset):
        self._set_read_only(request, queryset, True)

    @admin.action(description="Make writable again", permissions=["change"])
    def make_writable(self, request, queryset):
        self._set_read_only(request, queryset, False)

    def _set_read_only(self, request, queryset, read_only: bool) -> None:
        slugs = documents.set_read_only(
            document_ids=queryset.values_list("pk", flat=True), read_only=read_only
        )
        notify.documents_access_changed(slugs)
        state = "read-only" if read_only else "writable"
        self.message_user(request, f"{len(slugs)} document(s) made {state}.", messages.SUCCESS)


async def _submit(edit: Edit):
    """Commit through this worker's committer (on its event loop), and broadcast."""
    live = await worker.current()
    return await live.committer.submit(edit)


def _summary(op: list) -> str:
    inserted = sum(len(c) for c in op if isinstance(c, str))
    deleted = -sum(c for c in op if isinstance(c, int) and c < 0)
    return f"+{inserted} -{deleted}"


class DisconnectForm(ActionForm):
    reason = forms.CharField(required=False, max_length=200, label="Reason (shown to the person)")


@admin.register(EditingSession)
class EditingSessionAdmin(TabColumns, admin.ModelAdmin):
    list_display = [
        "session_id",
        "display_name",
        "tab_of",
        "browser",
        "document",
        "user",
        "client_address",
        "worker",
        "connected_at",
        "last_seen",
        "disconnected_at",
        "ops_sent",
        "is_active",
    ]
    list_filter = [ActiveNowFilter, "document", "worker"]
    list_select_related = ["document", "user"]
    search_fields = [
        "session_id",
        "display_name",
        "document__slug",
        "user__username",
        "client_address",
        "user_agent",
        "worker",
    ]
    date_hierarchy = "connected_at"
    readonly_fields = [
        "document",
        "session_id",
        "display_name",
        "person",
        "user",
        "client_address",
        "user_agent",
        "worker",
        "connected_at",
        "last_seen",
        "disconnected_at",
        "ops_sent",
    ]
    action_form = DisconnectForm
    actions = ["disconnect"]

    @admin.display(boolean=True, description="active")
    def is_active(self, session: EditingSession) -> bool:
        return session.is_active

    @admin.action(
        description="Disconnect (closes the connection on whichever worker holds it)", permissions=["change"]
    )
    def disconnect(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        live = list(queryset.filter(disconnected_at=None).values_list("document__slug", "session_id"))
        notify.sessions_disconnect(live, reason)
        self.message_user(request, f"Asked {len(live)} live session(s) to disconnect.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["hint", "document", "role", "created_by", "created_at", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["document", "created_by"]
    search_fields = ["document__slug", "hint", "created_by__username"]
    fields = ["document", "role", "hint", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description="Revoke (their holders lose the link's role at once)", permissions=["change"])
    def revoke(self, request, queryset):
        links = list(queryset.filter(revoked_at=None))
        for link in links:
            grants.revoke_link(link)
        self.message_user(request, f"Revoked {len(links)} link(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a link is made on the document's sharing page, which shows its token once


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    """Every share, to find and remove a user's access across documents; each change reaches
    their open pages at once (access/signals.py), deletions from this list included."""

    list_display = ["document", "user", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["document", "user"]
    search_fields = ["document__slug", "user__username"]
    raw_id_fields = ["document", "user"]

    def get_readonly_fields(self, request, obj=None):
        # A share moved to another document or user would leave its old holder's
        # rights in place on open sockets: remove it and add another instead.
        return ["document", "user", "created_at"] if obj else ["created_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """HTTP API tokens: made here or with ``manage.py create_api_token``; the secret is shown
    once, on adding; revoking takes effect at the next request."""

    list_display = ["hint", "user", "name", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "name", "hint"]
    raw_id_fields = ["user"]
    readonly_fields = ["hint", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # Who and what a token is for stay as made: a changed scope would surprise its holder.
        return [*self.readonly_fields, "user", "scope"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = tokens.give_secret(obj)
        super().save_model(request, obj, form, change)
        self.message_user(request, f"The token, shown this once (copy it now): {secret}", messages.WARNING)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at=None):
            tokens.revoke_token(token)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["message_id", "event", "created_at", "attempts", "delivered_at", "failed_at", "last_status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Who hears of what, where; the deliveries below are the log of what was sent."""

    list_display = ["url", "user", "document", "events", "created_at"]
    search_fields = ["url", "user__username", "document__slug"]
    raw_id_fields = ["user", "document"]
    readonly_fields = ["created_at"]
    inlines = [DeliveryInline]

    def save_model(self, request, obj: WebhookSubscription, form, change: bool) -> None:
        if not change:
            obj.secret = records.new_secret()
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every event for every subscription, its tries and the last answer."""

    list_display = [
        "message_id",
        "event",
        "subscription",
        "created_at",
        "attempts",
        "delivered_at",
        "failed_at",
        "last_status",
        "last_error",
    ]
    list_filter = [
        "event",
        ("delivered_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["message_id", "subscription__url"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send the selected deliveries again now")
    def send_again(self, request, queryset):
        count = queryset.update(failed_at=None, delivered_at=None, next_attempt_at=timezone.now(), attempts=0)
        self.message_user(
            request, f"{count} deliveries are due now; a worker sends them within seconds.", messages.SUCCESS
        )
