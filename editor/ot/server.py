"""The server's half of the editing algorithm, over a document's log.

``accept`` gives an incoming edit the document's next revision: it
recognises an edit it has seen (by the client's id), rebases it over what
was committed since the client's revision, checks limits and appends it
to the log. The caller holds the document (a row lock, a transaction) and
stores what was appended; the caller also sends the results (ot.js's
server.js: "it's the caller's responsibility to send the operation to all
connected clients"). Logs: ``MemoryLog`` here, ``store.log.DatabaseLog``
over the database's rows; the same contract tests run on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .. import ot


class EditRejected(Exception):
    """The server refuses an operation; ``code`` is what the client sees."""

    ACCESS_CHANGED = "access-changed"
    PRECONDITION_FAILED = "precondition-failed"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def unknown_document(cls, slug: str) -> EditRejected:
        return cls("unknown-document", f"document {slug!r} does not exist")

    @classmethod
    def read_only(cls) -> EditRejected:
        return cls("read-only", "this document is read-only; edits are not accepted")

    @classmethod
    def moved_on(cls, base_rev: int, head_rev: int) -> EditRejected:
        return cls(
            cls.PRECONDITION_FAILED,
            f"the document is at revision {head_rev}, not {base_rev}: read it again and redo the change",
        )

    @classmethod
    def access_changed(cls) -> EditRejected:
        """Who may do what changed since the edit was sent: its sender checks again (never sent)."""
        return cls(cls.ACCESS_CHANGED, "the rights on this document changed; check them again")


@dataclass(frozen=True, slots=True)
class Edit:
    """An operation a client sent: made on ``base_rev`` of the document ``slug``.

    ``access_rev``: the document's rights its sender was allowed it under;
    the store commits it only if they are still those (None: not checked).
    ``only_on_head``: applied only if nothing was committed since ``base_rev``,
    not rebased (a compare-and-swap: the HTTP API's ``If-Match``).
    """

    slug: str
    base_rev: int
    op: ot.Operation
    op_id: str
    session_id: str
    access_rev: int | None = None
    only_on_head: bool = False


@dataclass(frozen=True, slots=True)
class LoggedOperation:
    """An operation as clients receive it: the edit that produced revision ``rev``."""

    rev: int
    op: ot.Operation
    op_id: str
    session_id: str


@dataclass(frozen=True, slots=True)
class Accepted:
    operation: LoggedOperation
    duplicate: bool  # applied earlier (its ack was lost): acknowledge again, do not broadcast


# What the server decided about an edit: each client is told one or the other.
Decision = Accepted | EditRejected


class DocumentLog(Protocol):
    """One document's head, the operations that led to it (the recent ones), and appending."""

    rev: int
    length: int  # characters at revision ``rev``

    def operations_since(self, rev: int) -> list[LoggedOperation]: ...

    def has_op_id(self, op_id: str) -> bool: ...

    def append(self, operation: LoggedOperation, length: int) -> None: ...


# Rebasing walks every component of the edit and of each operation committed
# since its revision, under the document's lock; past this many component
# steps the client is asked to catch up first (it reconnects, receives what
# it missed and rebases its edit itself) rather than hold up everyone else.
MAX_REBASE_WORK = 200_000


def rebase(
    op: ot.Operation,
    *,
    base_rev: int,
    head_rev: int,
    head_length: int,
    committed_since: Sequence[ot.Operation],
) -> ot.Operation:
    """Transform ``op``, made against ``base_rev``, so it applies to ``head_rev``.

    ``committed_since`` holds the operations of revisions base_rev+1 .. head_rev
    in order; fewer means the log no longer reaches back that far. The
    transforms go one committed operation at a time, exactly as the clients
    transform their pending edits, so that both sides agree on ties.
    """
    if base_rev > head_rev:
        raise EditRejected(
            "future-revision", f"revision {base_rev} does not exist yet; the document is at {head_rev}"
        )
    if len(committed_since) != head_rev - base_rev:
        raise EditRejected(
            "stale-revision",
            f"revision {base_rev} is older than the history the server keeps; reload the document",
        )
    work = len(committed_since) * len(op) + sum(len(committed) for committed in committed_since)
    if work > MAX_REBASE_WORK:
        raise EditRejected(
            "stale-revision", f"revision {base_rev} is too far behind revision {head_rev}; catch up first"
        )
    base_length = ot.base_length(committed_since[0]) if committed_since else head_length
    if ot.base_length(op) != base_length:
        raise EditRejected(
            "invalid-op",
            f"operation spans {ot.base_length(op)} characters but revision {base_rev} has {base_length}",
        )
    for committed in committed_since:
        op, _ = ot.transform(op, committed)
    return op


def checked_length(length: int, op: ot.Operation, *, max_chars: int) -> int:
    """The length after ``op``, refusing to grow a document past ``max_chars``.

    ``op`` was checked against the head's length by ``rebase``, so it applies:
    the text itself is not needed to accept an edit.
    """
    new_length = ot.target_length(op)
    if new_length > max_chars and new_length > length:
        raise EditRejected(
            "document-too-large", f"the document would have {new_length} characters; the limit is {max_chars}"
        )
    return new_length


def accept(log: DocumentLog, edit: Edit, *, max_chars: int) -> Accepted:
    """Append ``edit`` as the next revision, or return what became of it the first time."""
    base_rev, op, op_id = edit.base_rev, edit.op, edit.op_id
    committed_since = []
    # An edit made on revision base_rev can only have been applied after it:
    # an edit on the head cannot have been applied already, and one on an
    # older revision is looked for among the operations since.
    if base_rev < log.rev:
        logged_since = log.operations_since(base_rev)
        committed_since = [logged.op for logged in logged_since]
        for index, earlier in enumerate(logged_since):
            if earlier.op_id == op_id:
                if not _became(op, earlier.op, committed_since[:index]):
                    raise EditRejected(
                        "duplicate-id",
                        f"operation id {op_id!r} belongs to a different edit; each edit needs a new id",
                    )
                return Accepted(earlier, duplicate=True)
    if log.has_op_id(op_id):
        # The id of an edit older than base_rev: a resend could not be that old.
        raise EditRejected(
            "duplicate-id", f"operation id {op_id!r} belongs to an earlier edit; each edit needs a new id"
        )
    if edit.only_on_head and base_rev < log.rev:
        raise EditRejected.moved_on(base_rev, log.rev)
    op = rebase(
        op, base_rev=base_rev, head_rev=log.rev, head_length=log.length, committed_since=committed_since
    )
    length = checked_length(log.length, op, max_chars=max_chars)
    operation = LoggedOperation(log.rev + 1, op, op_id, edit.session_id)
    log.append(operation, length)
    return Accepted(operation, duplicate=False)


def _became(op: ot.Operation, stored: ot.Operation, committed_between: Sequence[ot.Operation]) -> bool:
    """Whether ``op``, rebased over what was committed before it, is the operation stored.

    A resend (its ack was lost) is the same edit on the same revision, and
    rebases exactly as it did the first time; anything else reusing the id
    is not a resend, and acknowledging it would drop its content unseen.
    """
    if committed_between and ot.base_length(op) != ot.base_length(committed_between[0]):
        return False
    for committed in committed_between:
        op, _ = ot.transform(op, committed)
    return op == stored


def catch_up(log: DocumentLog, rev: int) -> list[LoggedOperation] | None:
    """The operations after ``rev`` in order, or None when the log no longer reaches back."""
    if rev > log.rev:
        return None
    missed = log.operations_since(rev)
    # Every revision from rev + 1 on, without a hole; more than log.rev - rev
    # when edits were committed meanwhile.
    if len(missed) < log.rev - rev or any(m.rev != rev + 1 + i for i, m in enumerate(missed)):
        return None
    return missed


def text_at(text: str, operations: Iterable[LoggedOperation], rev: int) -> str:
    """``text`` with the operations up to revision ``rev`` applied, in order."""
    for operation in operations:
        if operation.rev > rev:
            break
        text = ot.apply(text, operation.op)
    return text


@dataclass
class MemoryLog:
    """A whole document in memory: its text and its operations; the database log's twin.

    Like the database, it forgets an operation once it is both more than
    ``retain`` revisions old and older than ``retain_age`` on ``clock``.
    """

    text: str = ""
    rev: int = 0
    retain: int = 1000
    retain_age: float = 0
    clock: Callable[[], float] = time.monotonic
    operations: list[tuple[float, LoggedOperation]] = field(default_factory=list)

    def find(self, op_id: str) -> LoggedOperation | None:
        return next((logged for _, logged in self.operations if logged.op_id == op_id), None)

    def has_op_id(self, op_id: str) -> bool:
        return self.find(op_id) is not None

    def operations_since(self, rev: int) -> list[LoggedOperation]:
        return [logged for _, logged in self.operations if logged.rev > rev]

    @property
    def length(self) -> int:
        return len(self.text)

    def append(self, operation: LoggedOperation, length: int) -> None:
        now = self.clock()
        self.operations.append((now, operation))
        self.rev, self.text = operation.rev, ot.apply(self.text, operation.op)
        while (
            self.operations
            and self.operations[0][1].rev <= self.rev - self.retain
            and self.operations[0][0] < now - self.retain_age
        ):
            del self.operations[0]
