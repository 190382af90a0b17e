"""Drivers: they run a plan (plan.py) on a database connection, sending only what it asks.

``DjangoDriver``: Django's connection, in the calling thread, synchronously; BEGIN and
COMMIT become ``transaction.atomic()`` (IMMEDIATE on SQLite, whose write
lock then orders every worker's edits). Any database Django supports: SQLite
in development, and every read and rare write of documents.py.

``ThreadDriver``: the same, in a thread of its own with its own connection,
kept between plans and closed after a failure; the committer's way on
databases other than PostgreSQL.

``PsycopgDriver``: an asynchronous PostgreSQL connection of its own, on the
event loop; the committer's way on PostgreSQL. Through Django's connection
a commit costs its round trips each waited for in a thread that must then
win the GIL back from the event loop, busy writing to sockets (inside a
worker under light load: 2.3 ms p50 against 0.7 ms in a loop alone); here
the loop goes on with other work while PostgreSQL answers. A round's
statements go as one query (client-side binding); a ``prepare`` statement
goes alone, bound and prepared on the server. The connection is opened with
Django's parameters for the database (the same adapters, so jsonb comes
back as text; not its assume_role or isolation_level options, which Django
applies after connecting: the plans rely on PostgreSQL's default, READ
COMMITTED), in autocommit, the transactions being spelled out in the plans.
Its prepared statements need a direct connection or a pooler that keeps
them (PgBouncer 1.21 or later with max_prepared_statements). After any
failure it is closed, and the next plan opens a new one: that is how a
PostgreSQL restart is survived.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import psycopg
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, connections, transaction

from . import sql
from .plan import Plan, Rows, Steps

T = TypeVar("T")

PREPARE_THRESHOLD = 5  # psycopg's default; ``prepare`` statements are prepared at once


# PostgreSQL's codes for a server going away or refusing connections for now: class 08
# (connection exceptions) and these; psycopg gives none (None) for a connection it lost.
_SERVER_AWAY = ("57P01", "57P02", "57P03", "53300")


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or lost the connection (an
    outage, a restart, a network cut), rather than refused what was asked (a deadlock, a
    timeout, a limit: those are an edit's, retried one by one): the same work can succeed
    later, unchanged. Django's errors are judged by the driver's error they wrap."""
    cause = error.__cause__ if isinstance(error, (OperationalError, InterfaceError)) else error
    if isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError)):
        return cause.sqlstate is None or cause.sqlstate.startswith("08") or cause.sqlstate in _SERVER_AWAY
    # Other databases (SQLite in development): Django's own classes, unsorted.
    return isinstance(error, (OperationalError, InterfaceError))


class Driver(Protocol):
    """What the committer runs its plans with (ThreadDriver, PsycopgDriver): a connection of its
    own, on the event loop's side; after a failure, the next plan uses a new one."""

    dialect: sql.Dialect

    async def run(self, steps: Steps[T]) -> T: ...

    async def close(self) -> None: ...


def dialect_of(alias: str = "default") -> sql.Dialect:
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return sql.POSTGRESQL
    if connection.vendor == "sqlite":
        return sql.SQLITE
    return sql.Dialect(
        connection.vendor, for_update=connection.features.has_select_for_update, one_statement_commit=False
    )


def committer_driver(alias: str = "default") -> Driver:
    """The committer's connection: asynchronous on PostgreSQL, else Django's in a thread."""
    return PsycopgDriver(alias) if connections[alias].vendor == "postgresql" else ThreadDriver(alias)


def run_here(plan: Callable[..., Steps[T]], *args) -> T:
    """Run a plan (given its dialect, then ``args``) on Django's connection, in this thread."""
    driver = DjangoDriver()
    return driver.run(plan(driver.dialect, *args))


class DjangoDriver:
    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.dialect = dialect_of(alias)
        self._transaction: transaction.Atomic | None = None

    def run(self, steps: Steps[T]) -> T:
        plan = Plan(steps)
        try:
            statements = plan.first()
            while statements is not None:
                statements = self._send(plan, statements)
            if self._transaction is not None:
                raise RuntimeError("the plan ended inside a transaction it began")
        except BaseException:
            plan.close()
            if self._transaction is not None:
                atomic, self._transaction = self._transaction, None
                atomic.__exit__(*sys.exc_info())  # rolls back
            raise
        return plan.result

    def _send(self, plan: Plan, statements: Sequence[sql.Statement]) -> list[sql.Statement] | None:
        rowsets: list[Rows] = []
        with connections[self.alias].cursor() as cursor:
            for statement in statements:
                if statement is sql.BEGIN:
                    atomic = transaction.atomic(using=self.alias)
                    atomic.__enter__()
                    self._transaction = atomic
                    rowsets.append([])
                elif statement is sql.COMMIT:
                    atomic, self._transaction = self._transaction, None
                    atomic.__exit__(None, None, None)
                    rowsets.append([])
                elif statement.refusable:
                    try:
                        rowsets.append(self._refusable(cursor, statement))
                    except (IntegrityError, DataError) as error:
                        return plan.refuse(error)
                else:
                    cursor.execute(statement.sql, statement.params)
                    rowsets.append(cursor.fetchall() if cursor.description is not None else [])
        return plan.answer(rowsets)

    def _refusable(self, cursor, statement: sql.Statement) -> Rows:
        # In a savepoint when a transaction is open (the caller's), which a refusal would
        # otherwise leave aborted on PostgreSQL.
        with transaction.atomic(using=self.alias):
            cursor.execute(statement.sql, statement.params)
            return cursor.fetchall()


class ThreadDriver:
    def __init__(self, alias: str = "default") -> None:
        self._driver = DjangoDriver(alias)
        self.dialect = self._driver.dialect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editor-commit")

    async def run(self, steps: Steps[T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run_or_close, steps)

    def _run_or_close(self, steps: Steps[T]) -> T:
        """The connection is kept between plans (no health check per edit) and closed after a failure."""
        try:
            return self._driver.run(steps)
        except Exception:
            self._close_connection()
            raise

    def _close_connection(self) -> None:
        # Looked up in the thread that used it: Django's connections are per thread.
        connections[self._driver.alias].close()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown()


class PsycopgDriver:
    dialect = sql.POSTGRESQL

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._connection: psycopg.AsyncConnection | None = None

    async def run(self, steps: Steps[T]) -> T:
        plan = Plan(steps)
        database = await self._connected()
        try:
            statements = plan.first()
            while statements is not None:
                statements = await self._send(database, plan, statements)
        except BaseException:
            plan.close()
            # Whatever state a transaction was left in, closing ends it.
            self._connection = None
            await database.close()
            raise
        return plan.result

    @staticmethod
    async def _send(
        database: psycopg.AsyncConnection, plan: Plan, statements: Sequence[sql.Statement]
    ) -> list[sql.Statement] | None:
        if len(statements) == 1 and statements[0].prepare:
            statement = statements[0]
            try:
                async with psycopg.AsyncCursor(database) as cursor:
                    await cursor.execute(statement.sql, statement.params, prepare=True)
                    rows = await cursor.fetchall()
            except (psycopg.IntegrityError, psycopg.DataError) as error:
                if statement.refusable:
                    return plan.refuse(error)
                raise
            return plan.answer([rows])
        joined = "; ".join(statement.sql for statement in statements)
        async with database.cursor() as cursor:
            await cursor.execute(joined, [p for statement in statements for p in statement.params])
            rowsets = []
            while True:
                rowsets.append(await cursor.fetchall() if cursor.description is not None else [])
                if not cursor.nextset():
                    return plan.answer(rowsets)

    async def _connected(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            params = connections[self.alias].get_connection_params()
            params.pop("cursor_factory")  # Django's is synchronous
            # Django turns prepared statements off (for poolers); the
            # ``prepare`` statements are the only ones, the other cursors
            # binding on the client.
            params["prepare_threshold"] = PREPARE_THRESHOLD
            self._connection = await psycopg.AsyncConnection.connect(
                **params, autocommit=True, cursor_factory=psycopg.AsyncClientCursor
            )
        return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
