"""A document's history: any revision's text and authorship, what changed between two, and the
edits that restore a revision or take back one author's edits.

Every operation is kept (unless EDITOR_HISTORY_KEEP_DAYS says otherwise), with its author
(its session) and time; every EDITOR_HISTORY_MILESTONE_EVERY revisions a milestone keeps the
text and its authorship (documents.store_text writes them, off the edit path). A revision is
its nearest milestone at or before it plus fewer operations than that; the history starts at
the first milestone (or, before a document has one, at its stored text). Reads take no lock:
committed operations never change, and a read that meets a hole (the history was cut
meanwhile) is tried once more. The algorithm is ot/history.py's; this module only reads.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from editor import ot
from editor.ot import history
from editor.ot.server import LoggedOperation

from . import drivers, sql
from .log import DatabaseLog, decoded, logged_operation
from .plan import Steps


class Forgotten(LookupError):
    """The revision asked for is before the history starts (``start``)."""

    def __init__(self, rev: int, start: int | None) -> None:
        super().__init__(f"the history no longer reaches back to revision {rev}")
        self.rev, self.start = rev, start


class Future(LookupError):
    """The revision asked for is after the head (``head``)."""

    def __init__(self, rev: int, head: int) -> None:
        super().__init__(f"revision {rev} does not exist yet; the document is at {head}")
        self.rev, self.head = rev, head


@dataclass(frozen=True, slots=True)
class Base:
    """Where replaying starts: a milestone, or the stored text of a document without one."""

    rev: int
    text: str
    authorship: history.Spans
    is_milestone: bool


@dataclass(frozen=True, slots=True)
class Revision:
    """The text at ``rev`` and who wrote each character of it (spans of session ids)."""

    rev: int
    text: str
    authorship: history.Spans


@dataclass(frozen=True, slots=True)
class Comparison:
    """What changed from revision ``start`` to ``end``: ``change`` over ``old``'s text."""

    old: Revision
    end: int
    change: history.Change


@dataclass(frozen=True, slots=True)
class Correction:
    """An edit on revision ``head`` that restores or reverts; a no-op when nothing would change."""

    head: int
    op: ot.Operation


def base(document_id: int, rev: int) -> Steps[Base | None]:
    """The nearest milestone at or before ``rev``; the stored text, if the document has no
    milestone yet and it is not after ``rev``; else None."""
    milestone, stored = yield [
        sql.select_milestone(document_id, at_most=rev),
        sql.select_text_without_milestones(document_id),
    ]
    if milestone:
        [(milestone_rev, text, authorship)] = milestone
        return Base(milestone_rev, text, decoded(authorship), is_milestone=True)
    if stored and stored[0][0] <= rev:
        [(stored_rev, text)] = stored
        return Base(stored_rev, text, history.authored(text), is_milestone=False)
    return None


def revision(*, document_id: int, rev: int) -> Revision:
    """The text and authorship at ``rev`` (Forgotten, Future)."""
    return drivers.run_here(_revision, document_id, rev)


def head_revision(*, document_id: int) -> Revision:
    """The text and authorship now."""
    return drivers.run_here(_head_revision, document_id)


def comparison(*, document_id: int, start: int, end: int) -> Comparison:
    """What changed from ``start`` to ``end`` (at least ``start``), and who changed it."""
    return drivers.run_here(_comparison, document_id, start, end)


def restoring(*, document_id: int, rev: int) -> Correction:
    """The edit on the head that gives back the text of ``rev``: what was inserted since is
    deleted, what was deleted is inserted again, nothing else is touched."""
    return drivers.run_here(_restoring, document_id, rev)


def reverting(
    *,
    document_id: int,
    session_ids: Collection[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> Correction:
    """The edit on the head that takes back what these sessions did (one author's) between the
    two times, transformed over everything after, so that everyone else's edits stay."""
    return drivers.run_here(_reverting, document_id, frozenset(session_ids), since, until)


def times(*, document_id: int, after: int, upto: int) -> list[tuple[int, str, datetime]]:
    """Each revision after ``after`` up to ``upto`` with its session and time, in order."""
    return drivers.run_here(_times, document_id, after, upto)


# The plans


def _head(document_id: int) -> Steps[DatabaseLog]:
    [rows] = yield [sql.select_documents("id", [document_id], for_update=False)]
    if not rows:
        raise LookupError(f"no document with id {document_id}")
    return DatabaseLog.from_row(rows[0])


def _replayed(document_id: int, rev: int, upto: int) -> Steps[tuple[Revision, list[LoggedOperation]]]:
    """The revision ``rev`` and the operations after it up to ``upto``; tried again once if the
    history was cut while being read."""
    for _ in range(2):
        start = yield from base(document_id, rev)
        if start is None:
            [[(first,)]] = yield [sql.select_history_start(document_id)]
            raise Forgotten(rev, first)
        [rows] = yield [sql.select_operations_since([(document_id, start.rev)], most=upto - start.rev)]
        operations = [logged_operation(*operation) for _, *operation in rows]
        if [o.rev for o in operations] == list(range(start.rev + 1, upto + 1)):
            break
    else:
        raise Forgotten(rev, None)
    replayed = rev - start.rev
    text = start.text
    for operation in operations[:replayed]:
        text = ot.apply(text, operation.op)
    authorship = history.authorship_over(
        start.authorship, [(o.op, o.session_id) for o in operations[:replayed]]
    )
    return Revision(rev, text, authorship), operations[replayed:]


def _checked(log: DatabaseLog, rev: int) -> None:
    if rev > log.rev:
        raise Future(rev, log.rev)


def _revision(dialect: sql.Dialect, document_id: int, rev: int) -> Steps[Revision]:
    log = yield from _head(document_id)
    _checked(log, rev)
    found, _ = yield from _replayed(document_id, rev, rev)
    return found


def _head_revision(dialect: sql.Dialect, document_id: int) -> Steps[Revision]:
    log = yield from _head(document_id)
    found, _ = yield from _replayed(document_id, log.rev, log.rev)
    return found


def _comparison(dialect: sql.Dialect, document_id: int, start: int, end: int) -> Steps[Comparison]:
    log = yield from _head(document_id)
    _checked(log, end)
    old, between = yield from _replayed(document_id, start, end)
    changes = [history.change_of(o.op, o.session_id) for o in between]
    return Comparison(old, end, history.change_over(changes, len(old.text)))


def _restoring(dialect: sql.Dialect, document_id: int, rev: int) -> Steps[Correction]:
    log = yield from _head(document_id)
    _checked(log, rev)
    old, since = yield from _replayed(document_id, rev, log.rev)
    change = history.change_over([history.change_of(o.op, o.session_id) for o in since], len(old.text))
    return Correction(log.rev, history.restoring(change, old.text))


def _reverting(
    dialect: sql.Dialect,
    document_id: int,
    session_ids: frozenset[str],
    since: datetime | None,
    until: datetime | None,
) -> Steps[Correction]:
    log = yield from _head(document_id)
    if not session_ids:
        return Correction(log.rev, [log.length] if log.length else [])
    [rows] = yield [sql.select_revisions_by(document_id, session_ids, since=since, until=until)]
    [(first, last)] = rows
    if first is None:
        return Correction(log.rev, [log.length] if log.length else [])
    before, after = yield from _replayed(document_id, first - 1, log.rev)
    taken_back = [(o.op, o.session_id in session_ids and o.rev <= last) for o in after]
    return Correction(log.rev, history.reverting(before.text, taken_back))


def _times(dialect: sql.Dialect, document_id: int, after: int, upto: int) -> Steps[list]:
    [rows] = yield [sql.select_operation_times(document_id, after=after, upto=upto)]
    return [tuple(row) for row in rows]
