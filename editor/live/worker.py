"""One lifecycle: this process's live parts on an event loop, started and stopped together.

A worker process has one event loop and so one ``Worker``: its hub, its
committer and its liveness task. The first connection starts it
(``current``); ``stop`` finishes the work in hand and closes what it holds.
Tests, which run an event loop per test, get a worker per test the same
way, and stop it when the test ends.

The sessions table belongs to the Django face: ``configure`` (called by
``EditorConfig.ready``) hands this layer the functions that write it.
"""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer

from .committer import Committer
from .hub import Hub
from .limits import ConnectionCounts
from .liveness import Liveness, SessionRecords

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

    async def start(self) -> None:
        """Start every part, once; connections arriving together wait for the first to do it."""
        async with self._starting:
            if not self._started:
                await self.hub.start()
                self.liveness.start()
                self._started = True

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


async def stop() -> None:
    """Stop this event loop's worker, if it has one."""
    worker = _workers.pop(asyncio.get_running_loop(), None)
    if worker is not None:
        await worker.stop()
