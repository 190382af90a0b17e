"""Read-only queries on sessions and documents, for the consumers, views, API and admin."""

from __future__ import annotations

from django.db.models import Count, Q

from .access.rules import Visibility
from .models import Document, EditingSession, Share


def document_people_count(*, document_id: int) -> int:
    """How many sessions are connected to the document right now."""
    return EditingSession.objects.filter(document_id=document_id, disconnected_at=None).count()


def documents_visible_to(*, user_id: int | None, superuser: bool = False):
    """The documents someone may see without a link (the HTTP API's list), newest change first:
    public and view-only ones, and those they own or that are shared with them (all, for a
    superuser). access/rules.py says the same per document."""
    documents = Document.objects.all()
    if not superuser:
        seen = Q(visibility__in=[Visibility.PUBLIC.value, Visibility.VIEW_ONLY.value])
        if user_id is not None:
            seen |= Q(owner_id=user_id) | Q(
                pk__in=Share.objects.filter(user_id=user_id).values("document_id")
            )
        documents = documents.filter(seen)
    return documents.annotate(people=Count("sessions", filter=Q(sessions__disconnected_at=None))).order_by(
        "-updated_at", "pk"
    )


def document_people(*, document_id: int) -> list[EditingSession]:
    """Who is connected to the document now, across workers, earliest first."""
    return list(
        EditingSession.objects.filter(document_id=document_id, disconnected_at=None)
        .only("session_id", "display_name", "user_id", "connected_at")
        .order_by("connected_at", "pk")
    )


def session_authors(*, session_ids: list[str]) -> dict[str, str | None]:
    """The user name behind each session (None: nobody signed in, or the session is forgotten)."""
    rows = EditingSession.objects.filter(session_id__in=session_ids).values_list(
        "session_id", "user__username"
    )
    return dict(rows)
