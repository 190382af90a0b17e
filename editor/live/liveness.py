"""Keeping the sessions table true when processes die.

A consumer records its own disconnect, but a worker killed with SIGKILL (or
a machine that loses power) records nothing, and the channel layer cannot
list a group's members. So each worker vouches for its live sessions every
EDITOR_HEARTBEAT_SECONDS, and every worker closes sessions that nobody has
vouched for within EDITOR_SESSION_TIMEOUT_SECONDS, telling their documents
that those people left. A dead worker's sessions are therefore closed within
timeout + heartbeat seconds, by any surviving worker or by ``manage.py
expire_sessions``. A worker also closes what an earlier process under the
same WORKER_ID left open.

A worker whose own heartbeats failed (the database was away) expires nobody
until it has been vouching again for a whole timeout: the others' heartbeats
failed too, and their sessions are not dead. If a live session was closed
anyway, its worker's next heartbeat reopens it and announces it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from editor.store.drivers import database_unavailable

from . import notify
from .threads import in_thread_pool

logger = logging.getLogger(__name__)

# Sessions of this WORKER_ID connected before this are an earlier process's.
PROCESS_STARTED_AT = timezone.now()


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """A session closed by someone other than its own connection (expiry, cleanup)."""

    session_id: str
    document_id: int
    slug: str


@dataclass(frozen=True, slots=True)
class SessionRecords:
    """What liveness does to the sessions table, synchronous database work.

    The face provides it (editor/services.py): this layer does not import
    the models.
    """

    close_leftovers: Callable[..., list[ClosedSession]]  # (*, worker: str, started_at: datetime)
    close: Callable[..., list[ClosedSession]]  # (*, session_ids: list[str])
    heartbeat: Callable[..., list[str]]  # (*, session_ids: list[str], ops_sent: Mapping[str, int])
    expire: Callable[..., list[ClosedSession]]  # (*, timeout_seconds: float)


class LiveSession(Protocol):
    session_id: str
    ops_sent: int

    @property
    def connected(self) -> bool:
        """False once its socket is gone, even if its connection has not ended yet."""

    async def announce(self) -> None:
        """Called when expiry closed this live session by mistake: tell the document again."""


class Liveness:
    """The live sessions of this process, and the task that vouches for them.

    Started and stopped with the rest of the worker (worker.py).
    """

    def __init__(self, records: SessionRecords, *, started_at: datetime = PROCESS_STARTED_AT) -> None:
        self.records = records
        self.sessions: dict[str, LiveSession] = {}
        self.started_at = started_at
        self.healthy_since: float | None = None  # monotonic time of the first heartbeat of a good run
        self._written_ops: dict[str, int] = {}  # edit counts as last written, to write only changes
        self._task: asyncio.Task | None = None
        self._cleaned_leftovers = False
        self._unrecorded: set[str] = set()  # closed while the database was away

    def add(self, session: LiveSession) -> None:
        self.sessions[session.session_id] = session

    def discard(self, session: LiveSession) -> None:
        self.sessions.pop(session.session_id, None)
        self._written_ops.pop(session.session_id, None)

    def close_later(self, session_id: str) -> None:
        """A session that ended while its close could not be written: the next round writes it."""
        self._unrecorded.add(session_id)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="editor-liveness")

    async def close_all(self) -> None:
        """This process is going: record its sessions closed now (those whose consumers did not
        leave in time), rather than leave them for expiry, and tell their documents."""
        ids = [*self.sessions, *self._unrecorded]
        if not ids:
            return
        self.sessions.clear()
        self._unrecorded.clear()
        try:
            closed = await in_thread_pool(self.records.close)(session_ids=ids)
        except Exception as error:
            if not database_unavailable(error):
                raise
            # The other workers' expiry closes them once the database is back.
            logger.warning("could not record %d sessions closed: %s", len(ids), error)
            return
        if closed:
            await notify.people_left((session.slug, session.session_id) for session in closed)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(settings.EDITOR_HEARTBEAT_SECONDS)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.healthy_since = None
                if database_unavailable(error):
                    logger.warning("liveness check: database unavailable (%s); retrying", error)
                else:
                    logger.exception("liveness check failed; retrying")

    async def check(self) -> list[ClosedSession]:
        """One round: clean leftovers (once), vouch for ours, expire the silent."""
        closed = []
        if not self._cleaned_leftovers:
            closed += await in_thread_pool(self.records.close_leftovers)(
                worker=settings.WORKER_ID, started_at=self.started_at
            )
            self._cleaned_leftovers = True
        if self._unrecorded:
            unrecorded = list(self._unrecorded)
            closed += await in_thread_pool(self.records.close)(session_ids=unrecorded)
            self._unrecorded.difference_update(unrecorded)
        # A socket gone while its consumer is still busy (a flood queued,
        # Daphne kills it 10 s later): vouched for no more, closed now.
        gone = [session for session in self.sessions.values() if not session.connected]
        if gone:
            for session in gone:
                logger.info("session %s: its socket is gone; closing it", session.session_id)
                self.discard(session)
            closed += await in_thread_pool(self.records.close)(session_ids=[s.session_id for s in gone])
        live = dict(self.sessions)
        changed = {
            session_id: session.ops_sent
            for session_id, session in live.items()
            if self._written_ops.get(session_id) != session.ops_sent
        }
        reopened = await in_thread_pool(self.records.heartbeat)(session_ids=list(live), ops_sent=changed)
        self._written_ops.update(changed)
        for session_id in reopened:
            if session_id in self.sessions:  # still here now, not only when the round began
                logger.warning("session %s was expired while alive; announcing it again", session_id)
                await self.sessions[session_id].announce()
        now = time.monotonic()
        if self.healthy_since is None:
            self.healthy_since = now
        if now - self.healthy_since >= settings.EDITOR_SESSION_TIMEOUT_SECONDS:
            closed += await in_thread_pool(self.records.expire)(
                timeout_seconds=settings.EDITOR_SESSION_TIMEOUT_SECONDS
            )
        if closed:
            await announce_closed(closed)
        return closed


async def announce_closed(closed: list[ClosedSession]) -> None:
    """Tell each document that these people left."""
    for session in closed:
        logger.info(
            "expired doc=%s session=%s (its worker stopped vouching for it)", session.slug, session.session_id
        )
    await notify.people_left((session.slug, session.session_id) for session in closed)
