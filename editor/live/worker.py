"""One lifecycle: this process's live parts on an event loop, started and stopped together.

A worker process has one event loop and so one ``Worker``: its hub, its
committer and its liveness task. The server starts it when it starts
(editor/server.py), else the first connection does (``current``);
``drain`` closes every connection for a restart; ``stop`` finishes the work
in hand and closes what it holds.
Tests, which run an event loop per test, get a worker per test the same
way, and stop it when the test ends.

The sessions table belongs to the Django face: ``configure`` (called by
``EditorConfig.ready``) hands this layer the functions that write it, and
the ``Observer`` that hears of commits and of people (webhooks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from channels.layers import get_channel_layer

from editor.ot.server import LoggedOperation
from editor.store.documents import database_round_trip

from .committer import Committer
from .fallback import FallbackSessions
from .hub import Hub
from .limits import ConnectionCounts
from .liveness import Liveness, SessionRecords
from .threads import in_thread_pool

logger = logging.getLogger(__name__)

_records: SessionRecords | None = None
_observer: Callable[[], Observer] | None = None
HISTORY_READS_AT_ONCE = 2

# Until stop() takes it out (a worker's tasks hold its loop: no weak reference would free it).
_workers: dict[asyncio.AbstractEventLoop, Worker] = {}


class Observer(Protocol):
    """Hears of what happens on this worker (editor/webhooks/dispatch.py). Its ``committed``,
    ``joined`` and ``left`` are called on the event loop and must return at once: an edit never
    waits for them."""

    def committed(self, slug: str, operations: Sequence[LoggedOperation]) -> None: ...

    def joined(self, slug: str, person: dict) -> None: ...

    def left(self, slug: str, person: dict) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class NoObserver:
    """Until the face configures one (and in the live layer's own tests)."""

    def committed(self, slug: str, operations: Sequence[LoggedOperation]) -> None:
        pass

    def joined(self, slug: str, person: dict) -> None:
        pass

    def left(self, slug: str, person: dict) -> None:
        pass

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Draining(Exception):
    """This worker is shutting down: a new connection is closed at once with 1012."""


class Worker:
    def __init__(self, *, records: SessionRecords) -> None:
        self.hub = Hub(get_channel_layer())
        self.observer: Observer = _observer() if _observer is not None else NoObserver()
        self.committer = Committer(publish=self.hub.publish_ops, observe=self.observer.committed)
        self.liveness = Liveness(records)
        self.connections = ConnectionCounts()
        self.fallback = FallbackSessions()  # WebSocket connections emulated over HTTP
        # Reading far into the history (a diff, a revert) replays operations in a thread that
        # holds the GIL: a few at a time, so the pool and the loop stay free for edits.
        self.history_reads = asyncio.Semaphore(HISTORY_READS_AT_ONCE)
        self.hub.answerer = self.fallback.answer
        self._starting = asyncio.Lock()
        self._started = False
        self.draining = False  # shutting down: ready for nothing new (/readyz)
        self._open: set[str] = set()  # connections joined and not yet done leaving
        self._all_left = asyncio.Event()
        self._all_left.set()
        self._database_check: asyncio.Future | None = None

    def opened(self, session_id: str) -> None:
        """A connection joined (consumers.py); ``left`` once it is done leaving."""
        self._open.add(session_id)
        self._all_left.clear()

    def left(self, session_id: str) -> None:
        self._open.discard(session_id)
        if not self._open:
            self._all_left.set()

    async def start(self) -> None:
        """Start every part, once; connections arriving together wait for the first to do it."""
        async with self._starting:
            if not self._started:
                await self.hub.start()
                self.liveness.start()
                self.observer.start()
                self.fallback.start()
                self._started = True

    async def drain(self, *, grace: float) -> None:
        """Shut down gracefully: close every connection with 1012 (its client comes back at once,
        to another worker), wait up to ``grace`` seconds for them to leave (each records its session
        closed, its edits in flight committed first), record the rest closed, then stop."""
        self.draining = True
        self.committer.give_up_waiting()  # a database outage is waited out elsewhere now
        members = self.hub.members()
        logger.info("shutting down: closing %d connections for a restart", len(members))
        for member in members:
            await self.restart(member)
        try:
            async with asyncio.timeout(grace):
                await self._all_left.wait()
        except TimeoutError:
            logger.warning("shutting down: %d connections still open after %.0f s", len(self._open), grace)
        try:
            await self.liveness.close_all()
        finally:
            await self.stop()

    @staticmethod
    async def restart(member) -> None:
        try:
            await member.restart()
        except Exception:
            logger.debug("could not close %s", member.session_id, exc_info=True)

    async def database_answers(self) -> None:
        """One database round trip at a time, however many ask (a hanging database must not
        take every thread of the pool, one /readyz after another)."""
        if self._database_check is None or self._database_check.done():
            self._database_check = asyncio.ensure_future(in_thread_pool(database_round_trip)())
        await asyncio.shield(self._database_check)

    async def stop(self) -> None:
        """Commit and broadcast what is in hand, then stop the liveness task and the hub."""
        try:
            await self.committer.stop()
        finally:
            try:
                await self.liveness.stop()
            finally:
                try:
                    await self.observer.stop()
                finally:
                    try:
                        await self.fallback.stop()
                    finally:
                        await self.hub.stop()


def configure(*, records: SessionRecords, observer: Callable[[], Observer] | None = None) -> None:
    global _records, _observer
    _records, _observer = records, observer


async def current() -> Worker:
    """This event loop's worker, started; raises Draining while it shuts down."""
    loop = asyncio.get_running_loop()
    worker = _workers.get(loop)
    if worker is not None and worker.draining:
        raise Draining()
    if worker is None:
        if _records is None:
            raise RuntimeError("editor.live.worker.configure() was not called (EditorConfig.ready does)")
        worker = _workers[loop] = Worker(records=_records)
    await worker.start()
    return worker


async def readiness(*, within: float) -> dict[str, str]:
    """Whether this process can serve a new connection: "ok", or what is wrong, for each of
    accepting (not shutting down), the database and the channel layer (a round trip each,
    within ``within`` seconds)."""
    try:
        worker = await current()
    except Draining:
        return {"accepting": "shutting down", "database": "not checked", "channel_layer": "not checked"}
    except Exception as error:  # its start: the hub's first channel-layer calls (Redis away at boot)
        return {"accepting": "ok", "database": "not checked", "channel_layer": f"not started: {error}"}
    database, layer = await asyncio.gather(
        _checked(worker.database_answers(), within), _checked(worker.hub.round_trip(), within)
    )
    return {"accepting": "ok", "database": database, "channel_layer": layer}


async def _checked(check, within: float) -> str:
    try:
        async with asyncio.timeout(within):
            await check
    except TimeoutError:
        return f"no answer within {within:g} s"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "ok"


def existing() -> Worker | None:
    """This event loop's worker, if it has one (not made or started here)."""
    return _workers.get(asyncio.get_running_loop())


async def drain(*, grace: float) -> None:
    """Shut this event loop's worker down gracefully, if it has one (Worker.drain); it stays this
    loop's worker meanwhile, refusing new connections (``current``) and saying so (/readyz)."""
    worker = existing()
    if worker is not None:
        try:
            await worker.drain(grace=grace)
        finally:
            _workers.pop(asyncio.get_running_loop(), None)


async def stop() -> None:
    """Stop this event loop's worker, if it has one."""
    worker = _workers.pop(asyncio.get_running_loop(), None)
    if worker is not None:
        await worker.stop()
