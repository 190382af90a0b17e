"""A lone edit committed in one statement, on the revision its author saw (PostgreSQL).

Under light load the committer's batches hold one edit, and that edit was
made on the head: nobody else's came first. For it the locking transaction
of batch.py (BEGIN with the lock, then the writes with COMMIT: two round
trips, the row locked in between) does more than needed. An ``Attempt``
applies the edit in memory on the revision it was made on, or on what the
previous attempt found, and one prepared statement, in autocommit, moves
the document from that revision to the new one only if it is still there
(and writable, and the edit's id is new to it) and stores the operation:
one round trip, the row locked only while it runs. If the document had
moved on, the same statement returns its head and the operations since, so
a stale revision costs one more round trip, as ShareDB's commits retry.

An attempt that loses a race while waiting for the row (its snapshot then
shows the very head it expected), a reused id, and whatever two attempts
do not settle go the locking way, as do batches of several edits: under
load, when several typists' edits wait together, their revisions differ
and optimistic attempts would mostly fail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from editor import ot
from editor.ot import server as engine
from editor.ot.server import EditRejected, LoggedOperation

from .batch import (
    DOCUMENTS,
    OPERATIONS,
    Edit,
    LoadedLog,
    NotRead,
    Result,
    Statement,
    logged_operation,
    read_only,
    unknown_document,
)

# Optimistic attempts before the edit goes the locking way.
ATTEMPTS = 2


@dataclass(frozen=True)
class Found:
    """A document as an attempt's statement found it: its head, and the operations since the edit's."""

    rev: int
    length: int
    read_only: bool
    operations: list[LoggedOperation]


@dataclass(frozen=True)
class Settlement:
    """What one attempt's round trip settled: the edit's result, or what the next attempt needs."""

    result: Result | None = None  # None: not settled
    found: Found | None = None  # None after a read: there is no such document
    locking: bool = False  # no more attempts: the locking way


class Attempt:
    """One edit, applied in memory on the head it expects; ``found`` is what the last attempt read."""

    def __init__(self, edit: Edit, *, max_chars: int, read: bool = False, found: Found | None = None) -> None:
        self.edit = edit
        self.result: Result | None = None
        self.log: LoadedLog | None = None  # set if the result needs writing
        self.expected: tuple[int, int] = (edit.base_rev, ot.base_length(edit.op))
        if read and found is None:
            self.result = unknown_document(edit.slug)
        elif read and found.read_only:
            self.result = read_only()
        else:
            self._plan(max_chars, found)

    def _plan(self, max_chars: int, found: Found | None) -> None:
        """Apply the edit; ``result`` stays None if that needs reading the document first."""
        edit = self.edit
        # The head expected: the one read, or else the revision the edit was made on.
        if found is not None:
            self.expected = (found.rev, found.length)
        rev, length = self.expected
        log = LoadedLog(document_id=0, slug=edit.slug, rev=rev, length=length, read_only=False)
        if found is not None:
            log.loaded, log.loaded_after = found.operations, edit.base_rev
        try:
            self.result = engine.accept(
                log,
                base_rev=edit.base_rev,
                op=edit.op,
                op_id=edit.op_id,
                session_id=edit.session_id,
                max_chars=max_chars,
            )
        except (EditRejected, NotRead) as outcome:
            # On the expected head a refusal may be the expectation's fault
            # (a stale revision): read the document and try again.
            if found is not None and isinstance(outcome, EditRejected):
                self.result = outcome
            return
        if log.unwritten:
            self.log = log

    def statement(self, *, now: datetime) -> Statement | None:
        """The attempt's round trip, or None when it settled the edit without the database."""
        edit = self.edit
        if self.log is None:
            return None if self.result is not None else Statement(_READ_SQL, [edit.base_rev, edit.slug])
        [operation] = self.log.unwritten
        new = (self.log.rev, self.log.length)
        stored = (operation.rev, json.dumps(operation.op), operation.op_id, operation.session_id, now)
        moved = (*new, now, edit.slug, *self.expected, edit.op_id)
        return Statement(_MOVE_SQL, [*moved, *stored, edit.base_rev, edit.slug])

    def settle(self, rows: Sequence[tuple]) -> Settlement:
        """What the attempt's statement (``statement`` was not None) settled."""
        if not rows:
            return Settlement()  # no such document
        rev, length, is_read_only, moved, operations = rows[0]
        if moved:
            return Settlement(result=self.result)
        if self.log is not None and (rev, length) == self.expected and not is_read_only:
            # The head it expected, and yet it did not move: another edit
            # moved it while this one waited for the row (the snapshot is
            # older), or the edit's id was used before.
            return Settlement(locking=True)
        if isinstance(operations, str):  # Django's adapters hand json over as text
            operations = json.loads(operations)
        found = Found(rev, length, bool(is_read_only), [logged_operation(*op) for op in operations or []])
        return Settlement(found=found)


# The document's head and, if it did not move, the operations since the
# edit's revision; the statement reads one snapshot, taken before it wrote.
_HEAD = f"""
SELECT d.rev, d.length, d.read_only, {{moved}},
    CASE WHEN {{moved}} THEN NULL ELSE (
        SELECT json_agg(json_build_array(o.rev, o.op, o.op_id, o.session_id) ORDER BY o.rev)
        FROM {OPERATIONS} o WHERE o.document_id = d.id AND o.rev > %s::bigint
    ) END
FROM {DOCUMENTS} d {{join}} WHERE d.slug = %s
"""

_READ_SQL = _HEAD.format(moved="false", join="")

# Move the document from the expected revision and length to the new ones,
# only if it is still there, writable, and has no operation with the edit's
# id (so that a reused id fails nothing), and only then store the operation.
_MOVE_SQL = (
    f"WITH moved AS ("
    f" UPDATE {DOCUMENTS} d SET rev = %s::bigint, length = %s::bigint, updated_at = %s"
    " WHERE d.slug = %s AND d.rev = %s::bigint AND d.length = %s::bigint AND NOT d.read_only"
    f" AND NOT EXISTS (SELECT 1 FROM {OPERATIONS} x WHERE x.document_id = d.id AND x.op_id = %s)"
    " RETURNING d.id"
    f"), stored AS ("
    f" INSERT INTO {OPERATIONS} (document_id, rev, op, op_id, session_id, created_at)"
    " SELECT moved.id, %s::bigint, %s::jsonb, %s, %s, %s FROM moved"
    ")" + _HEAD.format(moved="m.id IS NOT NULL", join="LEFT JOIN moved m ON m.id = d.id")
)
