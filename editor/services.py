"""Everything that changes the sessions table: connections' lives, heartbeats, expiry.

Functions here run synchronously (in transactions where they need one);
consumers call them through ``live.threads.in_thread_pool`` and do the
sending themselves. Documents change only through ``editor.store``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from . import selectors
from .access import grants
from .access.rules import Access
from .live.liveness import ClosedSession, SessionRecords
from .models import EditingSession, Version
from .store import documents, history


@dataclass(frozen=True, slots=True)
class SessionStart:
    """What a new connection is told first: the document as it was opened, who is on it, and what
    this connection may do (with no right to see it: no opening, and no session recorded)."""

    opening: documents.Opening | None
    people: int
    access: Access


def session_connect(
    *,
    slug: str,
    session_id: str,
    display_name: str,
    person: str,
    visitor: grants.Visitor,
    client_address: str,
    user_agent: str,
    worker: str,
    resume_rev: int | None,
    pending_id: str | None,
) -> SessionStart:
    """Record a new connection and read what it must be sent first, if it may see the document.

    Called after the consumer joined the document's group, so any edit
    committed after the read below also reaches the client as a broadcast,
    and any change of rights after the rights are read is heard. The session
    is recorded before the rights are read, so that a change to the user's
    account committed after that read finds it (signals.py).
    """
    refusal = grants.page_access(slug=slug, visitor=visitor)
    if not refusal.can_view:  # nothing locked or read for who may not see it
        return SessionStart(None, 0, refusal)
    opening = documents.open_document(
        slug=slug,
        resume_rev=resume_rev,
        pending_id=pending_id,
        new=grants.new_document(slug=slug, user_id=visitor.user_id),
    )
    EditingSession.objects.create(
        document_id=opening.document_id,
        session_id=session_id,
        display_name=display_name,
        person=person,
        user_id=visitor.user_id,
        client_address=client_address[:64],
        user_agent=user_agent[:512],
        worker=worker,
    )
    access = grants.access_for(document_id=opening.document_id, visitor=visitor)
    if not access.can_view:  # changed since the first look
        EditingSession.objects.filter(session_id=session_id).delete()
        return SessionStart(None, 0, access)
    return SessionStart(opening, selectors.document_people_count(document_id=opening.document_id), access)


def api_session(*, token_id: int, user, document_id: int, client_address: str, user_agent: str) -> str:
    """The session an API token's edits to one document are made under: its user is their author.

    One per token and document, recorded closed: nobody is shown as present (only sockets are),
    and the admin lists it with the user and the last address it came from.
    """
    session_id = "api-" + hashlib.sha256(f"{token_id}:{document_id}".encode()).hexdigest()[:24]
    return _closed_session(session_id, user, document_id, client_address, user_agent, worker="api")


def operator_session(*, user, document_id: int, client_address: str, user_agent: str) -> str:
    """The session an operator's restores and reverts in the admin are made under (their
    author is the operator), as api_session's: one per operator and document, never present."""
    session_id = "admin-" + hashlib.sha256(f"{user.pk}:{document_id}".encode()).hexdigest()[:24]
    return _closed_session(session_id, user, document_id, client_address, user_agent, worker="admin")


def _closed_session(
    session_id: str, user, document_id: int, client_address: str, user_agent: str, *, worker: str
) -> str:
    now = timezone.now()
    EditingSession.objects.update_or_create(
        session_id=session_id,
        defaults={"client_address": client_address[:64], "user_agent": user_agent[:512], "last_seen": now},
        create_defaults={
            "document_id": document_id,
            "display_name": user.get_username()[:40],
            "user": user,
            "client_address": client_address[:64],
            "user_agent": user_agent[:512],
            "worker": worker,
            "last_seen": now,
            "disconnected_at": now,
        },
    )
    return session_id


class TooManyVersions(Exception):
    """The document has EDITOR_MAX_VERSIONS named versions already."""

    def __init__(self, most: int) -> None:
        super().__init__(f"a document keeps at most {most} named versions; delete some in the admin")


def save_version(*, document_id: int, rev: int, name: str, user_id: int | None, by: str) -> Version:
    """Keep revision ``rev`` under ``name``, saved by ``by`` (the user, if signed in);
    history.Future if the document has no such revision yet, TooManyVersions past the limit."""
    head = documents.head(document_id=document_id)
    if rev > head:
        raise history.Future(rev, head)
    most = settings.EDITOR_MAX_VERSIONS
    version = Version.objects.create(
        document_id=document_id, rev=rev, name=name, created_by_id=user_id, created_by_name=by[:40]
    )
    # Counted after: two saves at once past the limit are both taken back, not both kept.
    if Version.objects.filter(document_id=document_id).count() > most:
        version.delete()
        raise TooManyVersions(most)
    return version


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


def sessions_close(*, session_ids: list[str]) -> list[ClosedSession]:
    """Close these sessions, if open (their sockets are gone, their connections not ended yet)."""
    closed = []
    for chunk in _chunks(session_ids):
        closed += _close_sessions(EditingSession.objects.filter(disconnected_at=None, session_id__in=chunk))
    return closed


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


# What the live layer's liveness task does to the sessions table (live/worker.py).
session_records = SessionRecords(
    close_leftovers=sessions_close_leftovers,
    close=sessions_close,
    heartbeat=sessions_heartbeat,
    expire=sessions_expire,
)
