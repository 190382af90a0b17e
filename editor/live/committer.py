"""Group commit: the edits waiting for the database at one moment share a transaction.

Each process has one committer. An edit that finds it idle is committed at
once; edits that arrive while a transaction is running wait for it to end
and then go in together (up to MAX_BATCH), for whatever documents, in one
transaction (batch.py). So the cost per edit falls as the load rises, and
no edit waits for a timer. A runner (runners.py) sends each batch over the
committer's own connection. A batch that fails is retried one edit at a
time, so a poison edit costs only itself and a database restart costs
nothing.

After each commit the committer hands the accepted edits to the hub, in
revision order and grouped per document, and only then wakes their authors
to acknowledge them: an edit is broadcast even if its author's connection
went away while it was being committed. Every COMPACT_EVERY revisions a
document's stored text is brought up to date, in the background
(storage.store_text), so that no edit waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from editor.ot.server import Accepted, Edit, LoggedOperation
from editor.store.batch import Result
from editor.store.runners import Runner, new_runner
from editor.store.storage import store_text, text_due
from editor.wire import protocol

from .hub import hub
from .threads import in_thread_pool

logger = logging.getLogger(__name__)

# Edits per transaction at most: bounds the statements' size (six parameters
# an edit: 900, under the 999 of SQLite before 3.32) and the time the locks
# are held.
MAX_BATCH = 150

Outcome = Result | Exception  # an exception: the edit could not be committed


async def commit(runner: Runner, edits: Sequence[Edit]) -> list[Outcome]:
    """Commit the edits together; if that fails, each on its own, so one bad edit costs only itself.

    Retrying is safe even when the failure came after the COMMIT: the edits'
    ids are recognised and their earlier results returned.
    """
    try:
        return await runner.apply(edits)
    except Exception:
        logger.warning("a batch of %d edits failed; retrying them one by one", len(edits), exc_info=True)
    results: list[Outcome] = []
    for edit in edits:
        try:
            [result] = await runner.apply([edit])
        except Exception as error:
            logger.exception("edit %s to %s failed", edit.op_id, edit.slug)
            results.append(error)
            continue
        if isinstance(result, Accepted) and result.duplicate:
            # The failed batch may have committed it before failing, unseen
            # by anyone: broadcast it (clients ignore revisions they have).
            result = Accepted(result.operation, duplicate=False)
        results.append(result)
    return results


class Committer:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: Runner | None = None
        self._waiting: list[tuple[Edit, asyncio.Future]] = []
        self._running: asyncio.Task | None = None
        self._upkeep: set[asyncio.Task] = set()

    async def submit(self, edit: Edit) -> Accepted:
        """The edit's result once it is committed and broadcast; raises EditRejected if refused."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests run one per test)
            await self.stop()
            self.loop = loop
            self.runner = new_runner()
        future = loop.create_future()
        self._waiting.append((edit, future))
        if self._running is None:
            self._running = loop.create_task(self._commit_while_waiting(), name="editor-commit")
        return await future

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                edits = [edit for edit, _ in batch]
                results = await commit(self.runner, edits)
                # (slug, operation) of the edits applied now, not earlier.
                applied = [
                    (edit.slug, result.operation)
                    for edit, result in zip(edits, results, strict=True)
                    if isinstance(result, Accepted) and not result.duplicate
                ]
                try:
                    await self._publish(applied)
                except Exception:  # clients notice the missing revisions and fetch them
                    logger.exception("failed to broadcast %d committed edits", len(applied))
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its author went away meanwhile
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                for slug, operation in applied:
                    if text_due(operation.rev):
                        self._start_storing_text(slug)
        finally:
            self._running = None

    def _start_storing_text(self, slug: str) -> None:
        """In the thread pool, while edits go on."""
        task = self.loop.create_task(self._store_text(slug))
        self._upkeep.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._upkeep.discard)

    @staticmethod
    async def _store_text(slug: str) -> None:
        try:
            await in_thread_pool(store_text)(slug=slug)
        except Exception:  # the next due revision tries again; reading the text meanwhile costs more
            logger.exception("failed to store the text of %s", slug)

    @staticmethod
    async def _publish(applied: Sequence[tuple[str, LoggedOperation]]) -> None:
        by_document: dict[str, list[tuple[str, str]]] = {}
        for slug, operation in applied:
            frame = protocol.op_frame(
                rev=operation.rev, op=operation.op, session=operation.session_id, op_id=operation.op_id
            )
            by_document.setdefault(slug, []).append((frame, operation.session_id))
        for slug, ops in by_document.items():
            await hub.publish_ops(slug, ops)

    async def stop(self) -> None:
        """Finish the work in hand and close the runner's database connection (tests, shutdown)."""
        same_loop = self.loop is asyncio.get_running_loop()
        if self._running is not None and same_loop:
            await self._running
        if self._upkeep and same_loop:
            await asyncio.gather(*self._upkeep)
        if self.runner is not None:
            if same_loop:
                await self.runner.close()
            else:
                self.runner.abandon()
        self.__init__()


committer = Committer()
