"""Reading documents, switching their mode, and the stored text's upkeep.

Each function runs a plan on Django's connection in the calling thread
(the face calls them through ``live.threads.in_thread_pool``). Edits write
one small row each and no text (commit.py); the stored text is brought up
to date every EDITOR_HISTORY_MILESTONE_EVERY revisions (with the milestones of
history.py), so reading the text now means applying about that many operations to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.utils import timezone

from editor import ot
from editor.ot import server
from editor.ot.history import authorship_over
from editor.ot.server import LoggedOperation

from . import drivers, history, sql
from .log import DatabaseLog, logged_operation
from .plan import Steps

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Opening:
    """What a new connection is told first: the text, or the operations it missed.

    ``missed`` is None when the client did not resume or the log no longer
    reaches back; then ``text`` is the text at ``rev``, and ``pending_rev``
    says where the edit the client named as pending was applied (None: it
    was not, or so long ago it is forgotten).
    """

    document_id: int
    rev: int
    text: str
    missed: list[LoggedOperation] | None
    pending_rev: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A document's text at revision ``rev``."""

    rev: int
    text: str


@dataclass(frozen=True, slots=True)
class NewDocument:
    """Who a document created on opening belongs to, and what everyone else may do with it."""

    owner_id: int | None = None
    visibility: str = "public"


def open_document(
    *,
    slug: str,
    resume_rev: int | None = None,
    pending_id: str | None = None,
    new: NewDocument = NewDocument(),
) -> Opening:
    """The document named ``slug`` (created as ``new`` says if there is none), as a connection
    must first be told.

    Read under the row lock, so that no edit commits between reading the
    text and looking for the pending edit: the answer matches the snapshot.
    """
    return _run(_open, slug, resume_rev, pending_id, new)


def snapshot(*, document_id: int) -> Snapshot:
    """The document's current text and revision, read together under its row lock."""
    return _run(_snapshot, document_id)


def operations_since(*, document_id: int, rev: int) -> list[LoggedOperation] | None:
    """The operations committed after revision ``rev``, in order.

    None when the log no longer reaches back to ``rev + 1`` (it was compacted),
    ``rev`` is ahead of the document, or more than EDITOR_MAX_CATCH_UP_OPS
    revisions behind it; the caller then sends a snapshot.
    """
    return _run(_operations_since, document_id, rev)


def create(*, slug: str, new: NewDocument) -> int | None:
    """A new empty document named ``slug``, as ``new`` says; its id, or None if the name is taken."""
    return _run(_create, slug, new)


def length_at(*, document_id: int, rev: int) -> int | None:
    """How many characters the document had at revision ``rev``; None when the log no longer
    reaches back to it (or it is ahead of the head: ``head`` tells which)."""
    return _run(_length_at, document_id, rev)


def operations_page(*, document_id: int, since: int, most: int) -> tuple[int, list[LoggedOperation] | None]:
    """The head revision, and the first ``most`` operations after ``since`` (None when the log no
    longer reaches back to ``since + 1``)."""
    return _run(_operations_page, document_id, since, most)


def operation_with_id(*, document_id: int, op_id: str) -> LoggedOperation | None:
    """The stored edit with this id, if the log still has it."""
    return _run(_operation_with_id, document_id, op_id)


def head(*, document_id: int) -> int:
    """The document's latest revision."""
    return _run(_head, document_id)[0]


def head_and_access_rev(*, document_id: int) -> tuple[int, int]:
    """The document's latest revision, and how often who may do what on it changed."""
    return _run(_head, document_id)


def set_read_only(*, document_ids: Iterable[int], read_only: bool) -> list[str]:
    """Switch documents to read-only (or back); returns the slugs that changed, to notify."""
    return _run(_set_read_only, sorted(document_ids), read_only)


def bump_access_rev(*, document_ids: Iterable[int]) -> list[str]:
    """Who may do what on these documents changed: grow their access_rev (so that edits sent
    under the old rights do not commit); returns their slugs, to notify."""
    return _run(_bump_access_rev, sorted(set(document_ids)))


def recent_operations(*, document_id: int, limit: int) -> list[tuple[LoggedOperation, datetime]]:
    """The latest operations, newest first, with when each was stored."""
    return _run(_recent_operations, document_id, limit)


def database_round_trip() -> None:
    """A statement to the database and its answer (for /readyz)."""
    _run(_round_trip)


def text_due(rev: int) -> bool:
    """Whether the edit that made revision ``rev`` should be followed by ``store_text``: every
    EDITOR_HISTORY_MILESTONE_EVERY revisions, so that its cost is spread thinly over the edits."""
    return rev % settings.EDITOR_HISTORY_MILESTONE_EVERY == 0


def store_text(*, slug: str) -> None:
    """Bring the stored text up to the head revision, keep the milestones passed on the way,
    then forget what EDITOR_HISTORY_KEEP_DAYS lets go (nothing, by default).

    Runs after an edit, not inside its transaction, so that edits never wait
    for it (it costs a few milliseconds every EDITOR_HISTORY_MILESTONE_EVERY revisions). It
    reads without locking: committed operations never change and edits never
    write the text. The row is written only if its stored text is still the
    one read (else another worker did this meanwhile), in a short
    transaction that also does the compaction.
    """
    _run(_store_text, slug)


# The plans


_run = drivers.run_here


def _text(log: DatabaseLog, stored_rev: int, *reads: sql.Statement) -> Steps[tuple[str, list]]:
    """The text at the head of a document locked with its stored text at ``stored_rev`` (which
    the lock holds still), and the rows of ``reads``; then COMMIT. One round trip."""
    [(_, _, _, text, _)], operations, *rowsets, _ = yield [
        sql.select_stored_text("id", log.document_id),
        sql.select_operations_since([(log.document_id, stored_rev)]),
        *reads,
        sql.COMMIT,
    ]
    return server.text_at(text, _logged(operations), log.rev), rowsets


def _logged(rows: Iterable[tuple]) -> list[LoggedOperation]:
    return [logged_operation(*operation) for _, *operation in rows]


def _missed(log: DatabaseLog, rows: Iterable[tuple], rev: int) -> list[LoggedOperation] | None:
    """What catch-up gives after ``rev``, from the rows of the operations read after it."""
    log.loaded, log.loaded_after = _logged(rows), rev
    return server.catch_up(log, rev)


def _open(
    dialect: sql.Dialect, slug: str, resume_rev: int | None, pending_id: str | None, new: NewDocument
) -> Steps[Opening]:
    lock = sql.select_documents("slug", [slug], for_update=dialect.for_update)
    _, rows = yield [sql.BEGIN, lock]
    if not rows:  # a new document (in the same transaction: SQLite takes its write lock once)
        create = sql.create_document(
            slug, now=timezone.now(), owner_id=new.owner_id, visibility=new.visibility
        )
        _, rows = yield [create, lock]
    log, stored_rev = DatabaseLog.from_row(rows[0]), rows[0][4]
    if resume_rev is not None and resume_rev <= log.rev:
        [operations] = yield [_catch_up(log.document_id, resume_rev)]
        missed = _missed(log, operations, resume_rev)
        if missed is not None:
            yield [sql.COMMIT]
            return Opening(log.document_id, log.rev, "", missed)
    pending = [sql.select_operations_with_ids([log.document_id], [pending_id])] if pending_id else []
    text, rowsets = yield from _text(log, stored_rev, *pending)
    pending_rev = rowsets[0][0][1] if pending and rowsets[0] else None
    return Opening(log.document_id, log.rev, text, None, pending_rev)


def _snapshot(dialect: sql.Dialect, document_id: int) -> Steps[Snapshot]:
    _, rows = yield [sql.BEGIN, sql.select_documents("id", [document_id], for_update=dialect.for_update)]
    if not rows:
        raise LookupError(f"no document with id {document_id}")  # the driver rolls back
    log = DatabaseLog.from_row(rows[0])
    text, _ = yield from _text(log, rows[0][4])
    return Snapshot(log.rev, text)


def _operations_since(
    dialect: sql.Dialect, document_id: int, rev: int
) -> Steps[list[LoggedOperation] | None]:
    [head], operations = yield [
        sql.select_documents("id", [document_id], for_update=False),
        _catch_up(document_id, rev),
    ]
    return _missed(DatabaseLog.from_row(head), operations, rev)


def _catch_up(document_id: int, rev: int) -> sql.Statement:
    """The operations a client on ``rev`` is sent: if there are more than
    EDITOR_MAX_CATCH_UP_OPS, they are not all read, and it gets the text instead."""
    return sql.select_operations_since([(document_id, rev)], most=settings.EDITOR_MAX_CATCH_UP_OPS)


def _head(dialect: sql.Dialect, document_id: int) -> Steps[tuple[int, int]]:
    [rows] = yield [sql.select_documents("id", [document_id], for_update=False)]
    log = DatabaseLog.from_row(rows[0])
    return log.rev, log.access_rev


def _create(dialect: sql.Dialect, slug: str, new: NewDocument) -> Steps[int | None]:
    create = sql.create_document(
        slug, now=timezone.now(), owner_id=new.owner_id, visibility=new.visibility, returning=True
    )
    _, rows, _ = yield [sql.BEGIN, create, sql.COMMIT]
    return rows[0][0] if rows else None


def _length_at(dialect: sql.Dialect, document_id: int, rev: int) -> Steps[int | None]:
    [row], operations = yield [
        sql.select_documents("id", [document_id], for_update=False),
        sql.select_operations_since([(document_id, rev)], most=1),
    ]
    log = DatabaseLog.from_row(row)
    if rev == log.rev:
        return log.length
    following = _logged(operations)
    if rev > log.rev or not following or following[0].rev != rev + 1:
        return None
    return ot.base_length(following[0].op)


def _operations_page(
    dialect: sql.Dialect, document_id: int, since: int, most: int
) -> Steps[tuple[int, list[LoggedOperation] | None]]:
    [row], operations = yield [
        sql.select_documents("id", [document_id], for_update=False),
        sql.select_operations_since([(document_id, since)], most=most),
    ]
    head_rev, page = DatabaseLog.from_row(row).rev, _logged(operations)
    if since < head_rev and (not page or page[0].rev != since + 1):
        return head_rev, None
    return head_rev, page


def _operation_with_id(dialect: sql.Dialect, document_id: int, op_id: str) -> Steps[LoggedOperation | None]:
    [rows] = yield [sql.select_operations_with_ids([document_id], [op_id])]
    return _logged(rows)[0] if rows else None


def _set_read_only(dialect: sql.Dialect, document_ids: list[int], read_only: bool) -> Steps[list[str]]:
    if not document_ids:
        return []
    # Locked in id order, as the committer locks them: never a cycle with a batch of edits.
    _, rows = yield [sql.BEGIN, sql.select_documents("id", document_ids, for_update=dialect.for_update)]
    changing = [log for log in map(DatabaseLog.from_row, rows) if log.read_only != read_only]
    changes = [sql.set_read_only([log.document_id for log in changing], read_only)] if changing else []
    yield [*changes, sql.COMMIT]
    return [log.slug for log in changing]


def _bump_access_rev(dialect: sql.Dialect, document_ids: list[int]) -> Steps[list[str]]:
    if not document_ids:
        return []
    # Locked in id order, as the committer locks them: never a cycle with a batch of edits.
    _, rows = yield [sql.BEGIN, sql.select_documents("id", document_ids, for_update=dialect.for_update)]
    found = [row[0] for row in rows]
    yield [*([sql.bump_access_rev(found)] if found else []), sql.COMMIT]
    return [row[1] for row in rows]


def _round_trip(dialect: sql.Dialect) -> Steps[None]:
    yield [sql.SELECT_ONE]


def _recent_operations(
    dialect: sql.Dialect, document_id: int, limit: int
) -> Steps[list[tuple[LoggedOperation, datetime]]]:
    [rows] = yield [sql.select_recent_operations(document_id, limit=limit)]
    return [(logged_operation(*operation), stored_at) for *operation, stored_at in rows]


def _store_text(dialect: sql.Dialect, slug: str) -> Steps[None]:
    [rows] = yield [sql.select_stored_text("slug", slug)]
    if not rows:
        return
    [(document_id, rev, length, _, stored_rev)] = rows
    base = yield from history.base(document_id, rev)
    if base is None:
        return  # the history was forgotten up to a later revision meanwhile
    [operations] = yield [sql.select_operations_since([(document_id, base.rev)], most=rev - base.rev)]
    operations = _logged(operations)
    if [o.rev for o in operations] != list(range(base.rev + 1, rev + 1)):
        return  # compacted meanwhile, by another worker
    forget = yield from _forgettable(document_id, rev)
    if forget is not None and forget < base.rev:
        older = yield from history.base(document_id, forget)
        forget = older.rev if older is not None and older.is_milestone else None
    # The milestones passed on the way (and where the history will start, if it is cut),
    # and the text now.
    every = settings.EDITOR_HISTORY_MILESTONE_EVERY
    milestones = [] if base.is_milestone else [(document_id, base.rev, base.text, base.authorship)]
    text, authorship, since = base.text, base.authorship, []
    for operation in operations:
        text = ot.apply(text, operation.op)
        since.append((operation.op, operation.session_id))
        if operation.rev % every == 0 or operation.rev == forget:
            authorship, since = authorship_over(authorship, since), []
            milestones.append((document_id, operation.rev, text, authorship))
    # The stored length went wrong somehow (a worker of an older version
    # writing during a rolling deploy): trust the text, which every client
    # has, and say so, rather than refuse every edit. Later edits carried
    # the error along, so it is corrected by the same amount.
    drift = len(text) - length
    # Milestones first, outside the row's lock, which edits wait for: they are idempotent
    # (a revision's text never changes), so another worker writing them too does no harm.
    if milestones:
        yield [sql.insert_milestones(milestones, now=timezone.now())]
    # Then the text and the cut in one round trip, the row locked only meanwhile; the cut
    # only where the text was stored (by us or by a later upkeep), never leaving a hole.
    cut = (
        sql.delete_history_through(document_id, rev=forget, stored_at=rev)
        if forget is not None and forget > 0
        else []
    )
    _, stored, *_ = yield [
        sql.BEGIN,
        sql.store_text(document_id=document_id, text=text, rev=rev, drift=drift, stored_rev=stored_rev),
        *cut,
        sql.COMMIT,
    ]
    if stored and drift:
        logger.error(
            "document %s: stored length %d at revision %d, text has %d characters; repaired",
            slug,
            length,
            rev,
            len(text),
        )


def _forgettable(document_id: int, stored_rev: int) -> Steps[int | None]:
    """The revision up to which the history may be forgotten (None: none of it).

    Only when EDITOR_HISTORY_KEEP_DAYS is set, and never inside the resume window: an
    operation goes only when it is more than EDITOR_OPLOG_RETAIN revisions older than the
    stored text (``stored_rev``) and older than the window's time and the setting's, and so
    is everything before it: a client whose edit is in flight, or who reconnects within that
    time, is always told what became of it, and catch-up never meets a hole (even when
    workers' clocks disagree about created_at). Nothing after the stored text's revision goes.
    """
    if settings.EDITOR_HISTORY_KEEP_DAYS is None:
        return None
    seconds = max(settings.EDITOR_OPLOG_RETAIN_SECONDS, settings.EDITOR_HISTORY_KEEP_DAYS * 86400)
    young_since = timezone.now() - timedelta(seconds=seconds)
    [[(first_young,)]] = yield [sql.select_first_young_rev(document_id, young_since=young_since)]
    forget = stored_rev - settings.EDITOR_OPLOG_RETAIN
    if first_young is not None:
        forget = min(forget, first_young - 1)
    return forget if forget > 0 else None
