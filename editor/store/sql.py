"""Every SQL statement on the documents and operations tables, written once.

Plain SQL with ``%s`` placeholders, for Django's cursor and psycopg's alike:
every edit comes through here, and the same statements through the ORM
cost three times the CPU (measured: 1.1 against 3.2 ms an edit). Each
builder returns a ``Statement``; plans (commit.py, documents.py) decide
which to send, drivers (drivers.py) send them.

The table names are the ones ``editor/models.py`` gives its models (a test
checks that they agree); this layer does not import the models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from editor.ot.server import LoggedOperation

DOCUMENTS = "editor_document"
OPERATIONS = "editor_operation"
MILESTONES = "editor_milestone"


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL and its parameters; a driver sends several in one round trip where it can.

    ``prepare``: sent often with the same text, worth planning once per
    connection (psycopg prepares it). ``refusable``: sent alone in
    autocommit, where a broken constraint or a value the columns cannot
    hold is an answer for the plan (``plan.Refused``), not a failure.
    """

    sql: str
    params: Sequence = ()
    prepare: bool = False
    refusable: bool = False


BEGIN = Statement("BEGIN")
COMMIT = Statement("COMMIT")
SELECT_ONE = Statement("SELECT 1")  # a round trip, for readiness


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a database can do that the plans ask about."""

    name: str
    # SELECT ... FOR UPDATE locks rows (SQLite has none: BEGIN IMMEDIATE
    # takes its one write lock, which orders every writer just as well).
    for_update: bool
    # An UPDATE and an INSERT inside one WITH, and json_agg: the
    # one-statement commit of commit.py.
    one_statement_commit: bool


POSTGRESQL = Dialect("postgresql", for_update=True, one_statement_commit=True)
SQLITE = Dialect("sqlite", for_update=False, one_statement_commit=False)


def _placeholders(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


# Documents


def select_documents(
    column: str, values: Sequence, *, for_update: bool, op_ids: Sequence[str] = ()
) -> Statement:
    """The documents whose ``column`` is one of ``values``, in id order, locked with ``for_update``.

    Every writer locks documents in id order, so two workers' transactions
    never wait for each other in a cycle. Each row: id, slug, rev, length,
    snapshot_rev, read_only, how many of ``op_ids`` the document has
    stored (a resend, or a reused id, is then looked for only where one is),
    and access_rev.
    """
    stored = "0"
    if op_ids:
        stored = (
            f"(SELECT COUNT(*) FROM {OPERATIONS} o"
            f" WHERE o.document_id = d.id AND o.op_id IN ({_placeholders(op_ids)}))"
        )
    lock = " FOR UPDATE" if for_update else ""
    return Statement(
        f"SELECT d.id, d.slug, d.rev, d.length, d.snapshot_rev, d.read_only, {stored}, d.access_rev"
        f" FROM {DOCUMENTS} d WHERE d.{column} IN ({_placeholders(values)}) ORDER BY d.id{lock}",
        [*op_ids, *values],
    )


def create_document(
    slug: str, *, now: datetime, owner_id: int | None, visibility: str, returning: bool = False
) -> Statement:
    """An empty document named ``slug``, unless there is one already (then no id is spent);
    its id, if ``returning``."""
    return Statement(
        f"INSERT INTO {DOCUMENTS} (slug, text, rev, length, snapshot_rev, read_only, owner_id, visibility,"
        " access_rev, created_at, updated_at)"
        f" SELECT %s, '', 0, 0, 0, false, %s, %s, 0, %s, %s"
        f" WHERE NOT EXISTS (SELECT 1 FROM {DOCUMENTS} WHERE slug = %s)"
        " ON CONFLICT (slug) DO NOTHING" + (" RETURNING id" if returning else ""),
        [slug, owner_id, visibility, now, now, slug],
    )


def select_stored_text(column: str, value) -> Statement:
    """A document's stored text and what it needs to be brought up to date: id, rev, length,
    text, snapshot_rev (the text's revision)."""
    return Statement(
        f"SELECT id, rev, length, text, snapshot_rev FROM {DOCUMENTS} WHERE {column} = %s", [value]
    )


def move_documents(heads: Sequence[tuple[int, int, int]], *, now: datetime) -> Statement:
    """Set each document's (id, rev, length), however many documents."""
    cases = " ".join(["WHEN %s THEN %s"] * len(heads))
    return Statement(
        f"UPDATE {DOCUMENTS} SET rev = CASE id {cases} END, length = CASE id {cases} END,"
        f" updated_at = %s WHERE id IN ({_placeholders(heads)})",
        [v for document_id, rev, _ in heads for v in (document_id, rev)]
        + [v for document_id, _, length in heads for v in (document_id, length)]
        + [now]
        + [document_id for document_id, _, _ in heads],
    )


def store_text(*, document_id: int, text: str, rev: int, drift: int, stored_rev: int) -> Statement:
    """Store ``text`` as the text of revision ``rev``, only if the stored text is still the one of
    ``stored_rev`` (else another worker did it meanwhile); the length corrected by ``drift``.
    Returns the id if it was stored."""
    return Statement(
        f"UPDATE {DOCUMENTS} SET text = %s, snapshot_rev = %s, length = length + %s"
        " WHERE id = %s AND snapshot_rev = %s RETURNING id",
        [text, rev, drift, document_id, stored_rev],
    )


def bump_access_rev(document_ids: Sequence[int]) -> Statement:
    """Who may do what changed: edits sent under the old rights will not commit."""
    return Statement(
        f"UPDATE {DOCUMENTS} SET access_rev = access_rev + 1 WHERE id IN ({_placeholders(document_ids)})",
        list(document_ids),
    )


def set_read_only(document_ids: Sequence[int], read_only: bool) -> Statement:
    return Statement(
        f"UPDATE {DOCUMENTS} SET read_only = %s WHERE id IN ({_placeholders(document_ids)})",
        [read_only, *document_ids],
    )


# Operations

OPERATION_COLUMNS = "document_id, rev, op, op_id, session_id"


def select_operations_since(starts: Sequence[tuple[int, int]], *, most: int | None = None) -> Statement:
    """The operations of each (document id, revision) after that revision, by document and revision;
    only the first ``most`` revisions after it, if given.

    Each row: document_id, rev, op, op_id, session_id.
    """
    bound = "" if most is None else " AND rev <= %s"
    where = " OR ".join([f"(document_id = %s AND rev > %s{bound})"] * len(starts))
    values = []
    for document_id, rev in starts:
        values += [document_id, rev] if most is None else [document_id, rev, rev + most]
    return Statement(
        f"SELECT {OPERATION_COLUMNS} FROM {OPERATIONS} WHERE {where} ORDER BY document_id, rev", values
    )


def select_operations_with_ids(document_ids: Sequence[int], op_ids: Sequence[str]) -> Statement:
    """The stored operations of these documents that have one of these ids (rows as above)."""
    return Statement(
        f"SELECT {OPERATION_COLUMNS} FROM {OPERATIONS} WHERE document_id IN ({_placeholders(document_ids)})"
        f" AND op_id IN ({_placeholders(op_ids)})",
        [*document_ids, *op_ids],
    )


def select_recent_operations(document_id: int, *, limit: int) -> Statement:
    """The latest ``limit`` operations, newest first: rev, op, op_id, session_id, created_at."""
    return Statement(
        f"SELECT rev, op, op_id, session_id, created_at FROM {OPERATIONS}"
        " WHERE document_id = %s ORDER BY rev DESC LIMIT %s",
        [document_id, limit],
    )


def insert_operations(rows: Sequence[tuple[int, int, list, str, str]], *, now: datetime) -> Statement:
    """Store operations given as (document id, rev, op, op id, session id)."""
    return Statement(
        f"INSERT INTO {OPERATIONS} ({OPERATION_COLUMNS}, created_at)"
        f" VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(rows))}",
        [
            v
            for document_id, rev, op, op_id, session in rows
            for v in (document_id, rev, json.dumps(op), op_id, session, now)
        ],
    )


def select_first_young_rev(document_id: int, *, young_since: datetime) -> Statement:
    """The first revision made since ``young_since`` (one row; NULL if none)."""
    return Statement(
        f"SELECT MIN(rev) FROM {OPERATIONS} WHERE document_id = %s AND created_at >= %s",
        [document_id, young_since],
    )


def select_operation_times(document_id: int, *, after: int, upto: int) -> Statement:
    """Each revision after ``after`` up to ``upto``: rev, session_id, created_at, in order."""
    return Statement(
        f"SELECT rev, session_id, created_at FROM {OPERATIONS}"
        " WHERE document_id = %s AND rev > %s AND rev <= %s ORDER BY rev",
        [document_id, after, upto],
    )


def delete_history_through(document_id: int, *, rev: int, stored_at: int) -> list[Statement]:
    """Forget the operations up to revision ``rev`` and the milestones before it, if the stored
    text is at revision ``stored_at`` (or later) by then: the history then starts at the
    milestone at ``rev``, and no operation after the stored text goes."""
    stored = f"EXISTS (SELECT 1 FROM {DOCUMENTS} WHERE id = %s AND snapshot_rev >= %s)"
    return [
        Statement(
            f"DELETE FROM {table} WHERE document_id = %s AND rev {compare} %s AND {stored}",
            [document_id, rev, document_id, stored_at],
        )
        for table, compare in ((OPERATIONS, "<="), (MILESTONES, "<"))
    ]


# Milestones: the text and its authorship every so many revisions.


def select_milestone(document_id: int, *, at_most: int) -> Statement:
    """The latest milestone at or before revision ``at_most``: rev, text, authorship (JSON)."""
    return Statement(
        f"SELECT rev, text, authorship FROM {MILESTONES} WHERE document_id = %s AND rev <= %s"
        " ORDER BY rev DESC LIMIT 1",
        [document_id, at_most],
    )


def select_text_without_milestones(document_id: int) -> Statement:
    """The stored text (snapshot_rev, text) of a document that has no milestone yet, whose
    history therefore starts there; no row if it has one."""
    return Statement(
        f"SELECT d.snapshot_rev, d.text FROM {DOCUMENTS} d WHERE d.id = %s"
        f" AND NOT EXISTS (SELECT 1 FROM {MILESTONES} m WHERE m.document_id = d.id)",
        [document_id],
    )


def select_history_start(document_id: int) -> Statement:
    """The first revision the history holds (one row): its first milestone, or the stored
    text's revision while it has none."""
    return Statement(
        f"SELECT COALESCE((SELECT MIN(rev) FROM {MILESTONES} WHERE document_id = %s),"
        f" (SELECT snapshot_rev FROM {DOCUMENTS} WHERE id = %s))",
        [document_id, document_id],
    )


def select_revisions_by(
    document_id: int, session_ids: Sequence[str], *, since: datetime | None, until: datetime | None
) -> Statement:
    """The first and last revision these sessions made between the two times (one row; NULLs
    if none)."""
    bounds, values = "", [document_id, *session_ids]
    if since is not None:
        bounds += " AND created_at >= %s"
        values.append(since)
    if until is not None:
        bounds += " AND created_at <= %s"
        values.append(until)
    return Statement(
        f"SELECT MIN(rev), MAX(rev) FROM {OPERATIONS} WHERE document_id = %s"
        f" AND session_id IN ({_placeholders(session_ids)}){bounds}",
        values,
    )


def insert_milestones(rows: Sequence[tuple[int, int, str, list]], *, now: datetime) -> Statement:
    """Store milestones given as (document id, rev, text, authorship), but none already there."""
    return Statement(
        f"INSERT INTO {MILESTONES} (document_id, rev, text, authorship, created_at)"
        f" VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(rows))}"
        " ON CONFLICT (document_id, rev) DO NOTHING",
        [
            v
            for document_id, rev, text, authorship in rows
            for v in (document_id, rev, text, json.dumps(authorship), now)
        ],
    )


# The one-statement commit (PostgreSQL). The document's head and, if it did
# not move, the operations since the edit's revision, as JSON; the statement
# reads one snapshot, taken before it wrote.
_HEAD = f"""
SELECT d.rev, d.length, d.read_only, d.access_rev, {{moved}},
    CASE WHEN {{moved}} THEN NULL ELSE (
        SELECT json_agg(json_build_array(o.rev, o.op, o.op_id, o.session_id) ORDER BY o.rev)
        FROM {OPERATIONS} o WHERE o.document_id = d.id AND o.rev > %s::bigint
    ) END
FROM {DOCUMENTS} d {{join}} WHERE d.slug = %s
"""

_READ_HEAD = _HEAD.format(moved="false", join="")

# Move the document from the expected revision and length to the new ones,
# only if it is still there, writable, under the rights the edit was sent
# with (its access_rev, or any if none), and has no operation with the edit's
# id (so that a reused id fails nothing), and only then store the operation.
_MOVE_IF_AT = (
    f"WITH moved AS ("
    f" UPDATE {DOCUMENTS} d SET rev = %s::bigint, length = %s::bigint, updated_at = %s"
    " WHERE d.slug = %s AND d.rev = %s::bigint AND d.length = %s::bigint AND NOT d.read_only"
    " AND (%s::bigint IS NULL OR d.access_rev = %s::bigint)"
    f" AND NOT EXISTS (SELECT 1 FROM {OPERATIONS} x WHERE x.document_id = d.id AND x.op_id = %s)"
    " RETURNING d.id"
    f"), stored AS ("
    f" INSERT INTO {OPERATIONS} ({OPERATION_COLUMNS}, created_at)"
    " SELECT moved.id, %s::bigint, %s::jsonb, %s, %s, %s FROM moved"
    ")" + _HEAD.format(moved="m.id IS NOT NULL", join="LEFT JOIN moved m ON m.id = d.id")
)


def read_head(slug: str, *, since: int) -> Statement:
    """A document's head, and its operations after revision ``since``: one row
    (rev, length, read_only, access_rev, false, operations as JSON), none if there is no such
    document."""
    return Statement(_READ_HEAD, [since, slug], prepare=True, refusable=True)


def move_if_at(
    slug: str,
    *,
    expected: tuple[int, int],
    operation: LoggedOperation,
    length: int,
    since: int,
    now: datetime,
    access_rev: int | None = None,
) -> Statement:
    """Move the document from the ``expected`` (rev, length) to the ``operation``'s revision and
    ``length``, storing the operation, only if it is still at ``expected`` (and ``access_rev``,
    unless None); one row as ``read_head``'s, its fifth column saying whether it moved."""
    return Statement(
        _MOVE_IF_AT,
        [
            *(operation.rev, length, now, slug, *expected, access_rev, access_rev, operation.op_id),
            *(operation.rev, json.dumps(operation.op), operation.op_id, operation.session_id, now),
            *(since, slug),
        ],
        prepare=True,
        refusable=True,
    )
