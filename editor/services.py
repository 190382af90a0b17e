"""Everything that changes state: accepting edits, opening and closing sessions.

Functions here run synchronously inside database transactions; consumers call
them through ``database_sync_to_async`` and do the sending themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import engine, ot, selectors
from .models import Document, EditingSession
from .storage import DatabaseDocumentLog


@dataclass(frozen=True, slots=True)
class SessionStart:
    """What a new connection is told: a snapshot, or the operations it missed.

    With a snapshot, ``pending_rev`` says where the edit the client named as
    pending was applied (None: it was not, or so long ago it is forgotten).
    """

    document_id: int
    rev: int
    text: str
    people: int
    missed: list[engine.LoggedOperation] | None
    pending_rev: int | None = None


def document_apply_operation(
    *, slug: str, base_rev: int, op: ot.Operation, op_id: str, session_id: str
) -> engine.Accepted:
    """Give ``op`` the document's next revision, or return the earlier result for ``op_id``.

    The row lock (PostgreSQL) or the write lock (SQLite, IMMEDIATE mode) puts
    every worker's edits to one document in a single order.
    """
    with transaction.atomic():
        try:
            document = Document.objects.select_for_update().get(slug=slug)
        except Document.DoesNotExist:
            raise engine.EditRejected("unknown-document", f"document {slug!r} does not exist") from None
        return engine.accept(
            DatabaseDocumentLog(document),
            base_rev=base_rev,
            op=op,
            op_id=op_id,
            session_id=session_id,
            max_chars=settings.EDITOR_MAX_DOCUMENT_CHARS,
        )


def session_connect(
    *,
    slug: str,
    session_id: str,
    client_address: str,
    user_agent: str,
    worker: str,
    resume_rev: int | None,
    pending_id: str | None,
) -> SessionStart:
    """Record a new connection and read what it must be sent first.

    Called after the consumer joined the document's group, so any edit
    committed after the read below also reaches the client as a broadcast.
    """
    document, _ = Document.objects.get_or_create(slug=slug)
    missed = pending = None
    with transaction.atomic():
        # Under the row lock no edit commits between reading the text and
        # looking for the pending edit, so the answer matches the snapshot.
        document = Document.objects.select_for_update().get(pk=document.pk)
        EditingSession.objects.create(
            document=document,
            session_id=session_id,
            client_address=client_address[:64],
            user_agent=user_agent[:512],
            worker=worker,
        )
        log = DatabaseDocumentLog(document)
        if resume_rev is not None:
            missed = engine.catch_up(log, resume_rev)
        if missed is None and pending_id is not None:
            pending = log.find(pending_id)
    return SessionStart(
        document_id=document.pk,
        rev=document.rev,
        text=document.text,
        people=selectors.document_people_count(document_id=document.pk),
        missed=missed,
        pending_rev=pending.rev if pending else None,
    )


def session_disconnect(*, session_id: str, document_id: int) -> int:
    """Mark the session closed; return how many people remain on its document."""
    EditingSession.objects.filter(session_id=session_id).update(disconnected_at=timezone.now())
    return selectors.document_people_count(document_id=document_id)
