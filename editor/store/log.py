"""A document's log as the database holds it: the ``DocumentLog`` of ot/server.py over rows.

The in-memory twin is ``ot.server.MemoryLog``; the same contract tests run
on both.
"""

from __future__ import annotations

import json

from editor.ot.server import LoggedOperation


def decoded(value):
    """A JSON column's value: Django's PostgreSQL adapters hand json over as text, like SQLite;
    psycopg's own hand it over decoded."""
    return json.loads(value) if isinstance(value, str) else value


def logged_operation(rev: int, op, op_id: str, session_id: str) -> LoggedOperation:
    """An operation row (or a JSON array of its columns) as the algorithm takes it."""
    return LoggedOperation(rev, decoded(op), op_id, session_id)


class NotRead(LookupError):
    """The operations asked for were not read (an edit on an older revision than the plan expected)."""


class DatabaseLog:
    """One document's head and the operation rows a plan read, plus the ones accepted since.

    The plan reads what accepting its edits needs and nothing more: the
    operations after ``loaded_after`` (none when every edit was made on the
    head), and which of its edits' ids are stored already. What is
    appended is ``unwritten`` until the plan writes it. No I/O.
    """

    __slots__ = (
        "access_rev",
        "document_id",
        "length",
        "loaded",
        "loaded_after",
        "read_only",
        "rev",
        "slug",
        "stored_ids",
        "unwritten",
    )

    def __init__(
        self,
        *,
        document_id: int,
        slug: str,
        rev: int,
        length: int,
        read_only: bool,
        access_rev: int | None = None,
        loaded_after: int | None = None,
        loaded: list[LoggedOperation] | None = None,
    ) -> None:
        self.document_id = document_id
        self.slug = slug
        self.rev = rev
        self.length = length
        self.read_only = read_only
        self.access_rev = access_rev  # who may do what, as of (grows with every change); None: unknown
        self.loaded_after = rev if loaded_after is None else loaded_after
        self.loaded = loaded or []
        self.stored_ids: set[str] = set()
        self.unwritten: list[LoggedOperation] = []

    @classmethod
    def from_row(cls, row: tuple) -> DatabaseLog:
        """From a row of ``sql.select_documents``."""
        document_id, slug, rev, length, _, read_only, _, access_rev = row
        return cls(
            document_id=document_id,
            slug=slug,
            rev=rev,
            length=length,
            read_only=bool(read_only),
            access_rev=access_rev,
        )

    def operations_since(self, rev: int) -> list[LoggedOperation]:
        if rev < self.loaded_after:
            raise NotRead(f"the operations after revision {rev} of {self.slug} were not read")
        return [operation for operation in self.loaded + self.unwritten if operation.rev > rev]

    def has_op_id(self, op_id: str) -> bool:
        return op_id in self.stored_ids or any(o.op_id == op_id for o in self.unwritten)

    def append(self, operation: LoggedOperation, length: int) -> None:
        self.unwritten.append(operation)
        self.rev, self.length = operation.rev, length
