"""The one commit algorithm: edits in, what the server decided about each one out.

Written once, as a plan (plan.py), for every database and driver:

1. **One statement**, for a lone edit where the dialect has it (PostgreSQL).
   Under light load a batch holds one edit, made on the head. The edit is
   accepted in memory on the revision its author saw, and one prepared
   statement, in autocommit, moves the document from that revision to the
   next only if it is still there (and writable, under the rights the edit
   was sent with, and the id is new to it)
   and stores the operation: one round trip, the row locked only while it
   runs. If the document had moved on, the same statement returns its head
   and the operations since, and a second attempt follows (ShareDB's
   commits retry the same way).
2. **Locking**, for the rest: batches of several edits (under load their
   revisions differ and optimistic attempts would mostly fail), and a lone
   edit the attempts did not settle (it lost a race while waiting for the
   row, its id was used before, or two attempts were not enough). BEGIN
   with the documents' rows locked in id order (and a count of the batch's
   ids each has stored), then, only if needed, the operations since the
   oldest revision an edit was made on and the stored ids; the edits are
   accepted in memory in turn; then one UPDATE and one INSERT with COMMIT.
   No text is read or written (documents.store_text catches the stored
   text up now and then).

``commit`` runs the plan with a driver and, if that fails, runs it again for
each edit alone, so a poison edit costs only itself and a database restart
costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from editor import ot
from editor.ot import server
from editor.ot.server import Accepted, Decision, Edit, EditRejected

from . import sql
from .drivers import Driver, database_unavailable
from .log import DatabaseLog, decoded, logged_operation
from .plan import Refused, Steps

logger = logging.getLogger(__name__)

# Edits per transaction at most: bounds the statements' size (six parameters
# an edit: 900, under the 999 of SQLite before 3.32) and the time the locks
# are held.
MAX_BATCH = 150

# One-statement attempts before a lone edit goes the locking way.
ATTEMPTS = 2


async def commit(driver: Driver, edits: Sequence[Edit]) -> list[Decision | Exception]:
    """Commit the edits together; if that fails, each on its own, so one bad edit costs only itself.

    An exception in the list: that edit could not be committed. Retrying is
    safe even when the failure came after the COMMIT: the edits' ids are
    recognised and their earlier results returned. When the database is not
    there (drivers.database_unavailable), no edit can be: that error is
    raised, for the caller to try the same edits again later.
    """
    # A lost connection (a restart, a cut) gets one more try, on a new one; if the
    # database is still not there, that is the caller's to wait out.
    for attempt in range(2):
        try:
            decisions = await driver.run(commit_plan(edits, dialect=driver.dialect))
        except Exception as error:
            failure = error
            if not database_unavailable(error):
                break
            if attempt:
                raise
            logger.info(
                "a batch of %d edits lost its database connection; trying a new one: %s", len(edits), error
            )
            continue
        return [first_time(decision) for decision in decisions] if attempt else decisions
    logger.warning("a batch of %d edits failed; retrying them one by one", len(edits), exc_info=failure)
    decisions: list[Decision | Exception] = []
    for edit in edits:
        try:
            [decision] = await driver.run(commit_plan([edit], dialect=driver.dialect))
        except Exception as error:
            logger.exception("edit %s to %s failed", edit.op_id, edit.slug)
            decisions.append(error)
            continue
        # The failed batch may have committed it before failing, unseen by anyone.
        decisions.append(first_time(decision))
    return decisions


def first_time(decision: Decision) -> Decision:
    """A decision after a failed try: an edit found applied may have been applied by that try,
    unseen by anyone, so it is broadcast as new (clients ignore revisions they have)."""
    if isinstance(decision, Accepted) and decision.duplicate:
        return Accepted(decision.operation, duplicate=False)
    return decision


def commit_plan(
    edits: Sequence[Edit],
    *,
    dialect: sql.Dialect,
    max_chars: int | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> Steps[list[Decision]]:
    """Each edit's decision, the accepted ones committed (at most MAX_BATCH edits)."""
    if max_chars is None:
        max_chars = settings.EDITOR_MAX_DOCUMENT_CHARS
    if len(edits) == 1 and dialect.one_statement_commit:
        decision = yield from _one_statement(edits[0], max_chars=max_chars, clock=clock)
        if decision is not None:
            return [decision]
    return (yield from _locking(edits, dialect=dialect, max_chars=max_chars, clock=clock))


def _decide(log: DatabaseLog | None, edit: Edit, *, max_chars: int) -> Decision:
    """Every refusal, and acceptance, in one place: both ways of committing come here."""
    if log is None:
        return EditRejected.unknown_document(edit.slug)
    if log.read_only:
        return EditRejected.read_only()
    if edit.access_rev is not None and log.access_rev is not None and edit.access_rev != log.access_rev:
        return EditRejected.access_changed()
    try:
        return server.accept(log, edit, max_chars=max_chars)
    except EditRejected as rejected:
        return rejected


def _one_statement(edit: Edit, *, max_chars: int, clock: Callable[[], datetime]) -> Steps[Decision | None]:
    """The edit's decision, or None to go the locking way."""
    # First expected: the head the author saw (the revision it was made on,
    # the length it spans); then what the database said the head is.
    log = DatabaseLog(
        document_id=0,
        slug=edit.slug,
        rev=edit.base_rev,
        length=ot.base_length(edit.op),
        read_only=False,
        access_rev=edit.access_rev,
    )
    for attempt in range(ATTEMPTS):
        expected = (log.rev, log.length)
        decision = _decide(log, edit, max_chars=max_chars)
        if isinstance(decision, Accepted) and decision.duplicate:
            return decision  # applied before: found among what was read
        if isinstance(decision, EditRejected) and attempt > 0:
            return decision  # on the head the database showed, a refusal is final
        if isinstance(decision, Accepted):
            statement = sql.move_if_at(
                edit.slug,
                expected=expected,
                operation=decision.operation,
                length=log.length,
                since=edit.base_rev,
                now=clock(),
                access_rev=edit.access_rev,
            )
        else:
            # Refused on the guessed head, which may be the guess's fault
            # (a stale revision): read the real one.
            statement = sql.read_head(edit.slug, since=edit.base_rev)
        try:
            [rows] = yield [statement]
        except Refused:
            return None  # the same id stored by another worker meanwhile, or values too large
        if not rows:
            return _decide(None, edit, max_chars=max_chars)
        rev, length, read_only, access_rev, moved, operations = rows[0]
        if moved:
            return decision
        if (
            isinstance(decision, Accepted)
            and (rev, length) == expected
            and not read_only
            and edit.access_rev in (None, access_rev)
        ):
            # The head it expected, and yet it did not move: another edit
            # moved it while this one waited for the row (the statement's
            # snapshot is older), or the edit's id was used before.
            return None
        log = DatabaseLog(
            document_id=0,
            slug=edit.slug,
            rev=rev,
            length=length,
            read_only=bool(read_only),
            access_rev=access_rev,
            loaded_after=edit.base_rev,
            loaded=[logged_operation(*operation) for operation in decoded(operations) or []],
        )
    return None


def _locking(
    edits: Sequence[Edit], *, dialect: sql.Dialect, max_chars: int, clock: Callable[[], datetime]
) -> Steps[list[Decision]]:
    """The edits in one transaction under their documents' row locks."""
    op_ids = sorted({edit.op_id for edit in edits})
    slugs = sorted({edit.slug for edit in edits})
    lock = sql.select_documents("slug", slugs, for_update=dialect.for_update, op_ids=op_ids)
    _, rows = yield [sql.BEGIN, lock]
    logs = {log.slug: log for log in map(DatabaseLog.from_row, rows)}
    by_id = {log.document_id: log for log in logs.values()}
    having_ids = [row[0] for row in rows if row[6]]
    for edit in edits:
        log = logs.get(edit.slug)
        # An edit on the head (the usual case) needs nothing read: it cannot
        # have been applied already, and nothing is to be rebased over.
        if log is not None and edit.base_rev < log.loaded_after:
            log.loaded_after = edit.base_rev
    behind = [(log.document_id, log.loaded_after) for log in logs.values() if log.loaded_after < log.rev]
    reads = []
    if behind:
        reads.append(sql.select_operations_since(behind))
    if having_ids:
        reads.append(sql.select_operations_with_ids(having_ids, op_ids))
    if reads:
        rowsets = iter((yield reads))
        if behind:
            for document_id, *operation in next(rowsets):
                by_id[document_id].loaded.append(logged_operation(*operation))
        if having_ids:
            for document_id, _, _, op_id, _ in next(rowsets):
                by_id[document_id].stored_ids.add(op_id)
    decisions = [_decide(logs.get(edit.slug), edit, max_chars=max_chars) for edit in edits]
    yield [*_writes(logs.values(), now=clock()), sql.COMMIT]
    return decisions


def _writes(logs, *, now: datetime) -> list[sql.Statement]:
    changed = [log for log in logs if log.unwritten]
    if not changed:
        return []
    return [
        sql.move_documents([(log.document_id, log.rev, log.length) for log in changed], now=now),
        sql.insert_operations(
            [(log.document_id, o.rev, o.op, o.op_id, o.session_id) for log in changed for o in log.unwritten],
            now=now,
        ),
    ]
