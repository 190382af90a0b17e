"""Read-only queries: what the consumers and views need to know."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .models import Document, EditingSession
from .ot import server as engine
from .store.storage import DatabaseDocumentLog


@dataclass(frozen=True, slots=True)
class Snapshot:
    rev: int
    text: str
    people: int
    read_only: bool


def document_snapshot(*, document_id: int) -> Snapshot:
    """The document's current text and revision, read together under its row lock."""
    with transaction.atomic():
        log = DatabaseDocumentLog.locked(pk=document_id)
        text = log.text
    return Snapshot(
        rev=log.rev,
        text=text,
        people=document_people_count(document_id=document_id),
        read_only=log.document.read_only,
    )


def document_text(*, document_id: int) -> str:
    """The document's text now (the stored text is only brought up to date now and then)."""
    return document_snapshot(document_id=document_id).text


def document_head(*, document_id: int) -> int:
    """The document's latest revision."""
    return Document.objects.filter(pk=document_id).values_list("rev", flat=True).get()


def document_people_count(*, document_id: int) -> int:
    """How many sessions are connected to the document right now."""
    return EditingSession.objects.filter(document_id=document_id, disconnected_at=None).count()


def document_operations_since(*, document_id: int, rev: int) -> list[engine.LoggedOperation] | None:
    """The operations committed after revision ``rev``, in order.

    None when the log no longer reaches back to ``rev + 1`` (it was compacted)
    or ``rev`` is ahead of the document; the caller then sends a snapshot.
    """
    document = Document.objects.only("rev").get(pk=document_id)
    return engine.catch_up(DatabaseDocumentLog(document), rev)
