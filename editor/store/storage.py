"""Reading documents from the database, and the stored text's upkeep.

Edits write one small row each and no text (batch.py); the stored text is
brought up to date every COMPACT_EVERY revisions (and the log compacted
then), so reading the text now means applying at most that many
operations to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from editor import ot
from editor.models import Document, Operation
from editor.ot import server as engine
from editor.ot.server import LoggedOperation

from .batch import DOCUMENTS, OPERATIONS, lock_statement, logged_operation

# Every this-many-th revision the stored text catches up and the log is
# compacted, so their cost is spread thinly over the edits.
COMPACT_EVERY = 100

logger = logging.getLogger(__name__)

_FIELDS = ("rev", "op", "op_id", "session_id")


class DatabaseDocumentLog:
    """A document row and its operation rows, read through Django's connection.

    What a new connection, a catch-up and the text's upkeep read; edits are
    written by batches (batch.py). Lock the row (``locked``) to read the
    text consistently with the revision.
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        # Stored operations after revision _read_after, as last read.
        self._read: list[LoggedOperation] = []
        self._read_after: int | None = None

    @classmethod
    def locked(cls, *, slug: str | None = None, pk: int | None = None) -> DatabaseDocumentLog:
        """The log of the document with this slug (or pk), its row locked for this transaction."""
        column, value = ("slug", slug) if pk is None else ("id", pk)
        lock = lock_statement(column, [value], for_update=connection.features.has_select_for_update)
        with connection.cursor() as cursor:
            cursor.execute(lock.sql, lock.params)
            row = cursor.fetchone()
        if row is None:
            raise Document.DoesNotExist(f"no document with {column} {value!r}")
        document_id, slug, rev, length, snapshot_rev, read_only, _ = row
        return cls(
            Document(
                id=document_id,
                slug=slug,
                rev=rev,
                length=length,
                snapshot_rev=snapshot_rev,
                read_only=bool(read_only),
            )
        )

    @property
    def rev(self) -> int:
        return self.document.rev

    @property
    def length(self) -> int:
        return self.document.length

    @property
    def text(self) -> str:
        """The text at ``rev``: the stored text with the operations since applied."""
        text, snapshot_rev = (
            Document.objects.filter(pk=self.document.pk).values_list("text", "snapshot_rev").get()
        )
        return _replayed(text, self.operations_since(snapshot_rev), up_to=self.rev)

    def find(self, op_id: str) -> LoggedOperation | None:
        row = Operation.objects.filter(document=self.document, op_id=op_id).values_list(*_FIELDS).first()
        return logged_operation(*row) if row else None

    def operations_since(self, rev: int) -> list[LoggedOperation]:
        if self._read_after is None or rev < self._read_after:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT rev, op, op_id, session_id FROM {OPERATIONS}"
                    " WHERE document_id = %s AND rev > %s ORDER BY rev",
                    [self.document.pk, rev],
                )
                self._read = [logged_operation(*row) for row in cursor.fetchall()]
            self._read_after = rev
        return [operation for operation in self._read if operation.rev > rev]


def _replayed(text: str, operations: Iterable[LoggedOperation], *, up_to: int) -> str:
    """``text`` with the operations up to revision ``up_to`` applied, in order."""
    for operation in operations:
        if operation.rev > up_to:
            break
        text = ot.apply(text, operation.op)
    return text


def text_due(rev: int) -> bool:
    """Whether the edit that made revision ``rev`` should be followed by ``store_text``."""
    return rev % COMPACT_EVERY == 0


def store_text(*, slug: str) -> None:
    """Bring the stored text up to the head revision, then forget old operations.

    Runs after an edit, not inside its transaction, so that edits never wait
    for it (it costs a few milliseconds every COMPACT_EVERY revisions). It
    reads without locking: committed operations never change and edits never
    write the text. The row is written only if its stored text is still the
    one read (else another worker did this meanwhile), in a short
    transaction that also does the compaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, rev, length, text, snapshot_rev FROM {DOCUMENTS} WHERE slug = %s", [slug])
        row = cursor.fetchone()
    if row is None:
        return
    document_id, rev, length, text, snapshot_rev = row
    operations = engine.catch_up(DatabaseDocumentLog(Document(id=document_id, rev=rev)), snapshot_rev)
    if operations is None:
        return  # the text was stored and the log compacted meanwhile
    text = _replayed(text, operations, up_to=rev)
    # The stored length went wrong somehow (a worker of an older version
    # writing during a rolling deploy): trust the text, which every client
    # has, and say so, rather than refuse every edit. Later edits carried
    # the error along, so it is corrected by the same amount.
    drift = len(text) - length
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {DOCUMENTS} SET text = %s, snapshot_rev = %s, length = length + %s"
                " WHERE id = %s AND snapshot_rev = %s",
                [text, rev, drift, document_id, snapshot_rev],
            )
            if cursor.rowcount != 1:
                return
        if drift:
            logger.error(
                "document %s: stored length %d at revision %d, text has %d characters; repaired",
                slug,
                length,
                rev,
                len(text),
            )
        _compact(document_id, stored_rev=rev)


def _compact(document_id: int, *, stored_rev: int) -> None:
    """Forget the oldest operations, always a prefix of the log.

    An operation goes only when it is more than EDITOR_OPLOG_RETAIN
    revisions older than the stored text (``stored_rev``) and more than
    EDITOR_OPLOG_RETAIN_SECONDS old, and so is everything before it: a client
    whose edit is in flight, or who reconnects within that time, is always
    told what became of it, and catch-up never meets a hole (even when
    workers' clocks disagree about created_at). Nothing after the stored
    text's revision goes: the text now is built from it.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.EDITOR_OPLOG_RETAIN_SECONDS)
    bound = stored_rev - settings.EDITOR_OPLOG_RETAIN
    operations = Operation.objects.filter(document_id=document_id)
    youngest_kept = operations.filter(created_at__gte=cutoff).aggregate(Min("rev"))["rev__min"]
    if youngest_kept is not None:
        bound = min(bound, youngest_kept - 1)
    operations.filter(rev__lte=bound).delete()
