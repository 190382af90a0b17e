"""Plans: database work written once, as generators that yield statements and get rows back.

A plan has no I/O of its own. It yields a list of statements (one round
trip, where the driver can), receives the rows of each (an empty list for
one that returns none), and returns its result; BEGIN and COMMIT are
statements like the others. A driver (drivers.py) only sends what the plan
asks and hands back what the database answered, so the same plan runs over
psycopg's asynchronous connection and over Django's connection, on
PostgreSQL and SQLite alike (ShareDB's submit-request.js has the same
split: one algorithm, adapters that only answer).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Generic, TypeVar

from .sql import Statement

T = TypeVar("T")
Rows = list[tuple]
Steps = Generator[list[Statement], list[Rows], T]


class Refused(Exception):
    """A ``refusable`` statement broke a constraint or held a value its columns cannot: the
    database's answer, thrown into the plan at the statement's ``yield``."""


class Plan(Generic[T]):
    """A plan being run: ``first``, then ``answer`` (or ``refuse``) until they return None."""

    __slots__ = ("_steps", "result")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.result: T | None = None

    def first(self) -> list[Statement] | None:
        """The first round's statements; None if the plan needs the database for nothing."""
        return self._advance(self._steps.send, None)

    def answer(self, rowsets: list[Rows]) -> list[Statement] | None:
        """The rows of each statement of the last round; the next round's statements, or None."""
        return self._advance(self._steps.send, rowsets)

    def refuse(self, error: Exception) -> list[Statement] | None:
        """The last round's refusable statement was refused with ``error``."""
        return self._advance(self._steps.throw, Refused(str(error)))

    def close(self) -> None:
        """The database failed: the plan is abandoned where it stood."""
        self._steps.close()

    def _advance(self, step, value) -> list[Statement] | None:
        try:
            return step(value)
        except StopIteration as finished:
            self.result = finished.value
            return None
