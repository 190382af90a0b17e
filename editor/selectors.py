"""Read-only queries the consumers, views and admin need: sessions, and documents with them."""

from __future__ import annotations

from dataclasses import dataclass

from .models import EditingSession
from .store import documents


@dataclass(frozen=True, slots=True)
class Snapshot:
    rev: int
    text: str
    people: int
    read_only: bool


def document_snapshot(*, document_id: int) -> Snapshot:
    """The document's current text and revision, and how many people are on it."""
    snapshot = documents.snapshot(document_id=document_id)
    return Snapshot(
        rev=snapshot.rev,
        text=snapshot.text,
        people=document_people_count(document_id=document_id),
        read_only=snapshot.read_only,
    )


def document_people_count(*, document_id: int) -> int:
    """How many sessions are connected to the document right now."""
    return EditingSession.objects.filter(document_id=document_id, disconnected_at=None).count()
