"""One lifecycle: this process's live parts on an event loop, started and stopped together.

A worker process has one event loop and so one ``Worker``: its hub, its
committer and its liveness task. The server starts it when it starts
(editor/server.py), else the first connection does (``current``);
``drain`` closes every connection for a restart; ``stop`` finishes the work
in hand and closes what it holds.
Tests, which run an event loop per test, get a worker per test the same
way, and stop it when the test ends.

The sessions table belongs to the Django face: ``configure`` (called by
``EditorConfig.ready``) hands this layer the functions that write it.
"""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer

from editor.store.documents import database_round_trip

from .committer import Committer
from .hub import Hub
from .limits import ConnectionCounts
from .liveness import Liveness, SessionRecords
from .threads import in_thread_pool

logger = logging.getLogger(__name__)

_records: SessionRecords | None = None
# Until stop() takes it out (a worker's tasks hold its loop: no weak reference would free it).
_workers: dict[asyncio.AbstractEventLoop, Worker] = {}


class Worker:
    def __init__(self, *, records: SessionRecords) -> None:
        self.hub = Hub(get_channel_layer())
        self.committer = Committer(publish=self.hub.publish_ops)
        self.liveness = Liveness(records)
        self.connections = ConnectionCounts()
        self._starting = asyncio.Lock()
        self._started = False
        self.draining = False  # shutting down: ready for nothing new (/readyz)

    async def start(self) -> None:
        """Start every part, once; connections arriving together wait for the first to do it."""
        async with self._starting:
            if not self._started:
                await self.hub.start()
                self.liveness.start()
                self._started = True

    async def drain(self, *, grace: float) -> None:
        """Shut down gracefully: close every connection with 1012 (its client comes back at once,
        to another worker), wait up to ``grace`` seconds for them to leave (each records its session
        closed, its edits in flight committed first), record the rest closed, then stop."""
        self.draining = True
        members = self.hub.members()
        logger.info("shutting down: closing %d connections for a restart", len(members))
        for member in members:
            try:
                await member.restart()
            except Exception:
                logger.debug("could not close %s", member.session_id, exc_info=True)
        try:
            async with asyncio.timeout(grace):
                await self.hub.emptied()
        except TimeoutError:
            logger.warning(
                "shutting down: %d connections still open after %.0f s", len(self.hub.members()), grace
            )
        try:
            await self.liveness.close_all()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Commit and broadcast what is in hand, then stop the liveness task and the hub."""
        try:
            await self.committer.stop()
        finally:
            try:
                await self.liveness.stop()
            finally:
                await self.hub.stop()


def configure(*, records: SessionRecords) -> None:
    global _records
    _records = records


async def current() -> Worker:
    """This event loop's worker, started."""
    loop = asyncio.get_running_loop()
    worker = _workers.get(loop)
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
    worker = existing()
    checks = {"accepting": "shutting down" if worker is not None and worker.draining else "ok"}
    checks["database"] = await _checked(in_thread_pool(database_round_trip)(), within)

    async def layer_round_trip() -> None:
        await (await current()).hub.round_trip()

    checks["channel_layer"] = await _checked(layer_round_trip(), within)
    return checks


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
    """Shut this event loop's worker down gracefully, if it has one (Worker.drain)."""
    worker = _workers.pop(asyncio.get_running_loop(), None)
    if worker is not None:
        await worker.drain(grace=grace)


async def stop() -> None:
    """Stop this event loop's worker, if it has one."""
    worker = _workers.pop(asyncio.get_running_loop(), None)
    if worker is not None:
        await worker.stop()
