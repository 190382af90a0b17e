"""Group commit: the edits waiting for the database at one moment share a transaction.

Each worker has one committer. An edit that finds it idle is committed at
once; edits that arrive while a transaction is running wait for it to end
and then go in together (up to store.commit.MAX_BATCH), for whatever
documents, in one transaction. So the cost per edit falls as the load
rises, and no edit waits for a timer. The commit itself, its retry one by
one and every refusal are store/commit.py's; the committer's own driver
(connection) sends it.

While the database is away (a restart, a network cut), the edits wait:
the same batch is tried again, with growing pauses, for up to
EDITOR_DATABASE_WAIT_SECONDS, and commits, in order, once it is back;
only then do their authors get an error.

After each commit the committer hands the accepted edits to the hub, in
revision order and grouped per document, and only then wakes their authors
to acknowledge them: an edit is broadcast even if its author's connection
went away while it was being committed. Every COMPACT_EVERY revisions a
document's stored text is brought up to date, in the background
(store.documents.store_text), so that no edit waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from django.conf import settings

from editor.ot.server import Accepted, Decision, Edit, LoggedOperation
from editor.store import commit, documents
from editor.store.drivers import Driver, committer_driver, database_unavailable
from editor.wire import protocol

from .threads import in_thread_pool

logger = logging.getLogger(__name__)

# Pauses between tries of a batch while the database is away: from the first, doubling.
RETRY_FIRST, RETRY_MOST = 0.1, 2.0

# Hands committed edits, as (frame, author) per document, to everyone else.
Publish = Callable[[str, list[tuple[str, str]]], Awaitable[None]]
# Tells of a document's committed edits, at once (worker.Observer.committed).
Observe = Callable[[str, Sequence[LoggedOperation]], None]


class Committer:
    """Started and stopped with the rest of the worker (worker.py), on one event loop."""

    def __init__(
        self, *, publish: Publish, driver: Driver | None = None, observe: Observe | None = None
    ) -> None:
        self.publish = publish
        self.observe = observe
        self.driver = driver or committer_driver()
        self._waiting: list[tuple[Edit, asyncio.Future]] = []
        self._running: asyncio.Task | None = None
        self._upkeep: set[asyncio.Task] = set()
        self._away_since: float | None = None  # when the database went away, while it is
        self._giving_up = False

    async def submit(self, edit: Edit) -> Accepted:
        """The edit's result once it is committed and broadcast; raises EditRejected if refused."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((edit, future))
        if self._running is None:
            self._running = loop.create_task(self._commit_while_waiting(), name="editor-commit")
        return await future

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: commit.MAX_BATCH]
                self._waiting = self._waiting[commit.MAX_BATCH :]
                edits = [edit for edit, _ in batch]
                decisions = await self._commit_when_possible(edits)
                # (slug, operation) of the edits applied now, not earlier.
                applied = [
                    (edit.slug, decision.operation)
                    for edit, decision in zip(edits, decisions, strict=True)
                    if isinstance(decision, Accepted) and not decision.duplicate
                ]
                try:
                    await self._publish(applied)
                except Exception:  # clients notice the missing revisions and fetch them
                    logger.exception("failed to broadcast %d committed edits", len(applied))
                self._observe(applied)
                for (_, future), decision in zip(batch, decisions, strict=True):
                    _settle(future, decision)
                for slug, operation in applied:
                    if documents.text_due(operation.rev):
                        self._start_storing_text(slug)
        finally:
            self._running = None

    def give_up_waiting(self) -> None:
        """The worker shuts down: edits waiting for the database are refused now (their clients
        resume on another worker, which tells them what became of each)."""
        self._giving_up = True

    async def _commit_when_possible(self, edits: list[Edit]) -> list[Decision | Exception]:
        """commit.commit, tried again while the database is away, for a bounded time: at most
        EDITOR_DATABASE_WAIT_SECONDS from when it went away, whatever the batch."""
        pause, retried = RETRY_FIRST, False
        while True:
            try:
                if self._away_since is None:
                    decisions = await commit.commit(self.driver, edits)
                else:  # no try may outlast the wait (a database that drops packets hangs)
                    async with asyncio.timeout(max(0.1, self._deadline() - time.monotonic())):
                        decisions = await commit.commit(self.driver, edits)
            except Exception as error:
                timed_out = self._away_since is not None and isinstance(error, TimeoutError)
                if not (database_unavailable(error) or timed_out):
                    raise
                now = time.monotonic()
                if self._away_since is None:
                    self._away_since = now
                    logger.warning("database unavailable (%s); %d edits wait for it", error, len(edits))
                if now >= self._deadline() or self._giving_up:
                    waited = now - self._away_since
                    logger.warning("database unavailable for %.0f s; refusing %d edits", waited, len(edits))
                    return [error] * len(edits)
                retried = True
                await asyncio.sleep(min(pause, max(0.0, self._deadline() - now)))
                pause = min(pause * 2, RETRY_MOST)
                continue
            if self._away_since is not None:
                logger.info("database back after %.1f s", time.monotonic() - self._away_since)
                self._away_since = None
            if retried:
                # A try that failed after its COMMIT applied edits nobody has seen: they come
                # back as resends; broadcast them (clients ignore revisions they have).
                decisions = [commit.first_time(decision) for decision in decisions]
            return decisions

    def _deadline(self) -> float:
        return self._away_since + settings.EDITOR_DATABASE_WAIT_SECONDS

    def _start_storing_text(self, slug: str) -> None:
        """In the thread pool, while edits go on."""
        task = asyncio.get_running_loop().create_task(self._store_text(slug))
        self._upkeep.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._upkeep.discard)

    @staticmethod
    async def _store_text(slug: str) -> None:
        try:
            await in_thread_pool(documents.store_text)(slug=slug)
        except Exception as error:  # the next due revision tries again; reading the text meanwhile costs more
            if not database_unavailable(error):
                logger.exception("failed to store the text of %s", slug)
                return
            logger.warning("could not store the text of %s: the database is away (%s)", slug, error)

    async def _publish(self, applied: Sequence[tuple[str, LoggedOperation]]) -> None:
        by_document: dict[str, list[tuple[str, str]]] = {}
        for slug, operation in applied:
            frame = protocol.op_frame(
                rev=operation.rev, op=operation.op, session=operation.session_id, op_id=operation.op_id
            )
            by_document.setdefault(slug, []).append((frame, operation.session_id))
        for slug, ops in by_document.items():
            await self.publish(slug, ops)

    def _observe(self, applied: Sequence[tuple[str, LoggedOperation]]) -> None:
        """Tell the observer (webhooks) of the edits, per document; returns at once."""
        if self.observe is None or not applied:
            return
        by_document: dict[str, list[LoggedOperation]] = {}
        for slug, operation in applied:
            by_document.setdefault(slug, []).append(operation)
        for slug, operations in by_document.items():
            try:
                self.observe(slug, operations)
            except Exception:  # a webhook's trouble is not the edit's
                logger.exception("the observer failed on %d edits to %s", len(operations), slug)

    async def stop(self) -> None:
        """Finish the work in hand and close the database connection."""
        if self._running is not None:
            await self._running
        if self._upkeep:
            await asyncio.gather(*self._upkeep)
        await self.driver.close()


def _settle(future: asyncio.Future, decision: Decision | Exception) -> None:
    if future.done():  # its author went away meanwhile
        return
    if isinstance(decision, Exception):  # EditRejected, or the commit failed
        future.set_exception(decision)
    else:
        future.set_result(decision)
