"""Read-only queries on the sessions table, for the consumers, views and admin."""

from __future__ import annotations

from .models import EditingSession


def document_people_count(*, document_id: int) -> int:
    """How many sessions are connected to the document right now."""
    return EditingSession.objects.filter(document_id=document_id, disconnected_at=None).count()
