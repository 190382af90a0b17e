"""How the committer's batches reach the database: its own connection, one of two kinds.

``PostgresRunner``: an asynchronous PostgreSQL connection on the event loop.
A lone edit (the usual batch under light load) goes optimistically, in one
prepared statement (optimistic.py); what that cannot settle, and batches of
several edits, go the locking way of batch.py in two round trips, three if
an edit was made on an older revision: BEGIN with the lock statement, the
reads, then the writes with COMMIT (joined, with client-side binding, so
that several statements go as one query). Through
Django's connection the locking way costs four round trips, each waited for
in a thread that must then win the GIL back from the event loop, busy
writing to sockets (inside a worker under light load: 2.3 ms p50 against
0.7 ms in a loop alone); here the event loop goes on with other work while
PostgreSQL answers.

The connection is opened with Django's parameters for the database (the
same adapters, so jsonb comes back as text; not its assume_role or
isolation_level options, which Django applies after connecting: the
statements rely on PostgreSQL's default, READ COMMITTED) in autocommit
mode, the transactions being spelled out in the statements. Its prepared statements
need a direct connection or a pooler that keeps them (PgBouncer 1.21 or
later with max_prepared_statements). After any failure it is closed, and
the next batch opens a new one: that is how a PostgreSQL restart is
survived.

``DjangoRunner``: Django's connection, in a thread; the locking way one
statement at a time (``services.documents_apply_operations``), for any
database Django supports: SQLite in development.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import psycopg
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from editor import services

from .batch import Edit, EditBatch, Result, Statement, joined
from .optimistic import ATTEMPTS, Attempt

PREPARE_THRESHOLD = 5  # psycopg's default; _prepared prepares at once (prepare=True)
BEGIN = Statement("BEGIN")
COMMIT = Statement("COMMIT")


class Runner(Protocol):
    """Sends one batch of edits to the database; after a failure, the next batch uses a new connection."""

    async def apply(self, edits: Sequence[Edit]) -> list[Result]: ...

    async def close(self) -> None: ...

    def abandon(self) -> None:
        """Close without the event loop it ran on (that loop has ended: tests run one per test)."""


def new_runner() -> Runner:
    return PostgresRunner() if connection.vendor == "postgresql" else DjangoRunner()


class PostgresRunner:
    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._connection: psycopg.AsyncConnection | None = None

    async def apply(self, edits: Sequence[Edit]) -> list[Result]:
        """A lone edit: optimistic attempts first (optimistic.py); then, and for several, the locking way."""
        database = await self._connected()
        max_chars = settings.EDITOR_MAX_DOCUMENT_CHARS
        try:
            if len(edits) == 1:
                result = await self._attempt(database, edits[0], max_chars)
                if result is not None:
                    return [result]
            async with database.cursor() as cursor:
                return await self._apply_locked(cursor, edits, max_chars)
        except BaseException:
            # Whatever state the transaction was left in, closing ends it.
            self._connection = None
            await database.close()
            raise

    @staticmethod
    async def _attempt(database, edit: Edit, max_chars: int) -> Result | None:
        """The edit's result, or None to go the locking way."""
        found = None
        for number in range(ATTEMPTS):
            attempt = Attempt(edit, max_chars=max_chars, read=number > 0, found=found)
            statement = attempt.statement(now=timezone.now())
            if statement is None:  # settled on what was read
                return attempt.result
            try:
                rows = await _prepared(database, statement)
            except (psycopg.errors.UniqueViolation, psycopg.errors.DataError):
                # The same id, stored by another worker meanwhile; or values
                # the statement cannot hold: the locking way says which.
                return None
            settlement = attempt.settle(rows)
            if settlement.result is not None or settlement.locking:
                return settlement.result
            found = settlement.found
        return None

    @staticmethod
    async def _apply_locked(cursor, edits: Sequence[Edit], max_chars: int) -> list[Result]:
        batch = EditBatch(edits, max_chars=max_chars, for_update=True)
        _, locked = await _execute(cursor, [BEGIN, batch.lock()])
        reads = batch.locked(locked)
        if reads:
            batch.read(await _execute(cursor, reads))
        results, writes = batch.accept(now=timezone.now())
        await _execute(cursor, [*writes, COMMIT])
        return results

    async def _connected(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            params = connections[self.alias].get_connection_params()
            params.pop("cursor_factory")  # Django's is synchronous
            # Django turns prepared statements off (for poolers); _prepared's
            # own are the only ones, the other cursors binding on the client.
            params["prepare_threshold"] = PREPARE_THRESHOLD
            self._connection = await psycopg.AsyncConnection.connect(
                **params, autocommit=True, cursor_factory=psycopg.AsyncClientCursor
            )
        return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def abandon(self) -> None:
        """Close the connection without the event loop it was used on (that loop has ended)."""
        if self._connection is not None:
            self._connection.pgconn.finish()
            self._connection = None


async def _prepared(database: psycopg.AsyncConnection, statement: Statement) -> list[tuple]:
    """One statement, bound and prepared on the server (planned once per connection), in autocommit."""
    async with psycopg.AsyncCursor(database) as cursor:
        await cursor.execute(statement.sql, statement.params, prepare=True)
        return await cursor.fetchall()


async def _execute(cursor: psycopg.AsyncClientCursor, statements: Sequence[Statement]) -> list[list[tuple]]:
    """The statements in one round trip; the rows of each (none for those that return none)."""
    statement = joined(statements)
    await cursor.execute(statement.sql, statement.params)
    rowsets = []
    while True:
        rowsets.append(await cursor.fetchall() if cursor.description is not None else [])
        if not cursor.nextset():
            return rowsets


class DjangoRunner:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editor-commit")

    async def apply(self, edits: Sequence[Edit]) -> list[Result]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, _apply_or_close, edits)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, _close_connection)
        self._executor.shutdown()

    def abandon(self) -> None:
        self._executor.submit(_close_connection).result()
        self._executor.shutdown()


def _apply_or_close(edits: Sequence[Edit]) -> list[Result]:
    """The connection is kept between batches (no health check per edit) and closed after a failure."""
    try:
        return services.documents_apply_operations(edits=edits)
    except Exception:
        connection.close()
        raise


def _close_connection() -> None:
    # Looked up in the thread that runs this: ``connection`` is a per-thread proxy.
    connection.close()
