"""How the committer's batches reach the database: its own connection, one of two kinds.

``PostgresRunner``: an asynchronous PostgreSQL connection on the event loop,
a batch in two round trips. Through Django's connection a batch costs four
round trips (BEGIN, the
lock, the writes, COMMIT), each waited for in a thread that must then win
the GIL back from the event loop, which is busy writing to sockets: inside
a worker under light load the commit took 2.3 ms p50 against 0.7 ms in a
loop alone. Here psycopg's asynchronous connection sends BEGIN with the
lock statement and the writes with COMMIT (batch.py's statements, joined),
and the event loop goes on with other work while PostgreSQL answers.

The connection is opened with Django's parameters for the database (the
same adapters, so jsonb comes back as text) in autocommit mode, the
transaction being spelled out in the statements, with client-side binding
so that several statements go as one query. After any failure it is
closed, and the next batch opens a new one: that is how a PostgreSQL
restart is survived.

``DjangoRunner``: Django's connection, in a thread; the same statements
one by one (``services.documents_apply_operations``), for any database
Django supports: SQLite in development.
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

from . import services
from .batch import Edit, EditBatch, Result, Statement, joined

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
        database = await self._connected()
        batch = EditBatch(edits, max_chars=settings.EDITOR_MAX_DOCUMENT_CHARS, for_update=True)
        try:
            async with database.cursor() as cursor:
                _, locked = await _execute(cursor, [BEGIN, batch.lock()])
                reads = batch.locked(locked)
                if reads:
                    batch.read(await _execute(cursor, reads))
                results, writes = batch.accept(now=timezone.now())
                await _execute(cursor, [*writes, COMMIT])
        except BaseException:
            # Whatever state the transaction was left in, closing ends it.
            self._connection = None
            await database.close()
            raise
        return results

    async def _connected(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            params = connections[self.alias].get_connection_params()
            params.pop("cursor_factory")  # Django's is synchronous
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
