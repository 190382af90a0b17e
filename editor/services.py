"""Everything that changes state: edits, documents' modes, sessions' lives.

Functions here run synchronously inside database transactions; consumers call
them through ``database_sync_to_async`` and do the sending themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from . import selectors
from .models import Document, EditingSession
from .ot import server as engine
from .ot.server import Edit
from .store.batch import EditBatch, Result, Statement
from .store.storage import DatabaseDocumentLog


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
    read_only: bool
    missed: list[engine.LoggedOperation] | None
    pending_rev: int | None = None


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """A session closed by someone other than its own connection (expiry, cleanup)."""

    session_id: str
    document_id: int
    slug: str


def documents_apply_operations(*, edits: Sequence[Edit]) -> list[Result]:
    """Give each edit its document's next revision (or its earlier result), in one transaction.

    The locking way of batch.py through Django's connection, one statement
    at a time: what the committer uses on SQLite, where the write lock
    (IMMEDIATE mode) puts every worker's edits in one order. On PostgreSQL
    the committer has a connection of its own (runners.py).
    """
    batch = EditBatch(
        edits,
        max_chars=settings.EDITOR_MAX_DOCUMENT_CHARS,
        for_update=connection.features.has_select_for_update,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        reads = batch.locked(_rows(cursor, batch.lock()))
        batch.read([_rows(cursor, statement) for statement in reads])
        results, writes = batch.accept(now=timezone.now())
        for statement in writes:
            cursor.execute(statement.sql, statement.params)
    return results


def _rows(cursor, statement: Statement) -> list[tuple]:
    cursor.execute(statement.sql, statement.params)
    return cursor.fetchall()


def documents_set_read_only(*, document_ids: Iterable[int], read_only: bool) -> list[str]:
    """Switch documents to read-only (or back); returns the slugs that changed, to notify."""
    with transaction.atomic():
        # Locked in id order, as the committer locks them: never a cycle with a batch of edits.
        documents = Document.objects.filter(pk__in=list(document_ids)).exclude(read_only=read_only)
        slugs = list(documents.order_by("id").select_for_update().values_list("slug", flat=True))
        Document.objects.filter(slug__in=slugs).update(read_only=read_only)
    return slugs


def session_connect(
    *,
    slug: str,
    session_id: str,
    display_name: str,
    user_id: int | None,
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
    text = ""
    with transaction.atomic():
        # Under the row lock no edit commits between reading the text and
        # looking for the pending edit, so the answer matches the snapshot.
        log = DatabaseDocumentLog.locked(pk=document.pk)
        document = log.document
        EditingSession.objects.create(
            document=document,
            session_id=session_id,
            display_name=display_name,
            user_id=user_id,
            client_address=client_address[:64],
            user_agent=user_agent[:512],
            worker=worker,
        )
        if resume_rev is not None:
            missed = engine.catch_up(log, resume_rev)
        if missed is None:
            text = log.text
            if pending_id is not None:
                pending = log.find(pending_id)
    return SessionStart(
        document_id=document.pk,
        rev=document.rev,
        text=text,
        people=selectors.document_people_count(document_id=document.pk),
        read_only=document.read_only,
        missed=missed,
        pending_rev=pending.rev if pending else None,
    )


def session_rename(*, session_id: str, display_name: str) -> None:
    EditingSession.objects.filter(session_id=session_id).update(display_name=display_name)


def session_disconnect(*, session_id: str, document_id: int, ops_sent: int) -> int:
    """Mark the session closed; return how many people remain on its document."""
    EditingSession.objects.filter(session_id=session_id).update(
        disconnected_at=timezone.now(), last_seen=timezone.now(), ops_sent=ops_sent
    )
    return selectors.document_people_count(document_id=document_id)


def sessions_heartbeat(*, session_ids: list[str], ops_sent: Mapping[str, int]) -> list[str]:
    """One worker's live sessions are alive: refresh ``last_seen`` (and edit counts that changed).

    Returns the sessions that expiry had closed meanwhile (this worker's
    heartbeats did not get through for a while): they are open again, and
    the caller tells their documents. Queries go in chunks, so the cost
    grows linearly with the number of sessions.
    """
    reopened = []
    for chunk in _chunks(session_ids):
        sessions = EditingSession.objects.filter(session_id__in=chunk)
        reopened += sessions.exclude(disconnected_at=None).values_list("session_id", flat=True)
        sessions.update(last_seen=Now(), disconnected_at=None)
    rows = []
    for chunk in _chunks(list(ops_sent)):
        for session in EditingSession.objects.filter(session_id__in=chunk).only("pk", "session_id"):
            session.ops_sent = ops_sent[session.session_id]
            rows.append(session)
    EditingSession.objects.bulk_update(rows, ["ops_sent"], batch_size=100)
    return reopened


def sessions_expire(*, timeout_seconds: float) -> list[ClosedSession]:
    """Close the sessions nobody has vouched for within ``timeout_seconds`` (a dead worker's).

    Compared on the database's clock, like ``last_seen`` is written, so that
    workers whose clocks disagree do not expire each other's sessions.
    """
    cutoff = Now() - timedelta(seconds=timeout_seconds)
    return _close_sessions(EditingSession.objects.filter(disconnected_at=None, last_seen__lt=cutoff))


def sessions_close_leftovers(*, worker: str, started_at: datetime) -> list[ClosedSession]:
    """Close what a previous process under the same WORKER_ID left open when it died."""
    return _close_sessions(
        EditingSession.objects.filter(disconnected_at=None, worker=worker, connected_at__lt=started_at)
    )


def _close_sessions(sessions) -> list[ClosedSession]:
    with transaction.atomic():
        rows = list(
            sessions.select_for_update(skip_locked=True, of=("self",)).values_list(
                "session_id", "document_id", "document__slug"
            )
        )
        for chunk in _chunks([row[0] for row in rows]):
            EditingSession.objects.filter(session_id__in=chunk).update(disconnected_at=Now())
    return [ClosedSession(*row) for row in rows]


_CHUNK = 500  # ids per query: well under SQLite's 32,766 parameters


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
