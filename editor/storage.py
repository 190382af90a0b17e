"""The database implementation of ``engine.DocumentLog``.

An edit costs one small UPDATE (revision, length) and one INSERT (the
operation): no text is read or written. The stored text is brought up to
date every COMPACT_EVERY revisions (and the log compacted then), so reading
the text now means applying at most that many operations to it.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from . import ot
from .engine import LoggedOperation
from .models import Document, Operation

# Every this-many-th revision the stored text catches up and the log is
# compacted, so their cost is spread thinly over the edits.
COMPACT_EVERY = 100

logger = logging.getLogger(__name__)

_FIELDS = ("rev", "op", "op_id", "session_id")
_DOCUMENTS = Document._meta.db_table
_OPERATIONS = Operation._meta.db_table


class DatabaseDocumentLog:
    """A document row and its operation rows; lock the row (select_for_update) to write or read the text."""

    def __init__(self, document: Document) -> None:
        self.document = document

    @classmethod
    def locked(cls, *, slug: str | None = None, pk: int | None = None) -> DatabaseDocumentLog:
        """The log of the document with this slug (or pk), its row locked for this transaction.

        Every edit comes through here and ``append``: plain SQL, which costs a
        third of the CPU of the same statements through the ORM (measured:
        1.1 against 3.2 ms per edit).
        """
        column, value = ("slug", slug) if pk is None else ("id", pk)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, slug, rev, length, snapshot_rev, read_only FROM {_DOCUMENTS}"
                f" WHERE {column} = %s{lock}",
                [value],
            )
            row = cursor.fetchone()
        if row is None:
            raise Document.DoesNotExist(f"no document with {column} {value!r}")
        document_id, slug, rev, length, snapshot_rev, read_only = row
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
        for operation in self.operations_since(snapshot_rev):
            if operation.rev > self.document.rev:
                break
            text = ot.apply(text, operation.op)
        return text

    def find(self, op_id: str) -> LoggedOperation | None:
        row = Operation.objects.filter(document=self.document, op_id=op_id).values_list(*_FIELDS).first()
        return LoggedOperation(*row) if row else None

    def operations_since(self, rev: int) -> list[LoggedOperation]:
        rows = (
            Operation.objects.filter(document=self.document, rev__gt=rev)
            .order_by("rev")
            .values_list(*_FIELDS)
        )
        return [LoggedOperation(*row) for row in rows]

    def append(self, operation: LoggedOperation, length: int) -> None:
        document = self.document
        document.rev, document.length = operation.rev, length
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_DOCUMENTS} SET rev = %s, length = %s, updated_at = %s WHERE id = %s",
                [operation.rev, length, now, document.pk],
            )
            cursor.execute(
                f"INSERT INTO {_OPERATIONS} (document_id, rev, op, op_id, session_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    document.pk,
                    operation.rev,
                    json.dumps(operation.op),
                    operation.op_id,
                    operation.session_id,
                    now,
                ],
            )
        if operation.rev % COMPACT_EVERY == 0:
            self._store_text()
            self._compact()

    def _store_text(self) -> None:
        text = self.text
        changes = {"text": text, "snapshot_rev": self.document.rev}
        if len(text) != self.document.length:
            # The stored length went wrong somehow (a worker of an older
            # version writing during a rolling deploy): trust the text, which
            # every client has, and say so, rather than refuse every edit.
            logger.error(
                "document %s: stored length %d, text has %d characters; repaired",
                self.document.slug,
                self.document.length,
                len(text),
            )
            changes["length"] = self.document.length = len(text)
        Document.objects.filter(pk=self.document.pk).update(**changes)
        self.document.snapshot_rev = self.document.rev

    def _compact(self) -> None:
        """Forget the oldest operations, always a prefix of the log.

        An operation goes only when it is more than EDITOR_OPLOG_RETAIN
        revisions and EDITOR_OPLOG_RETAIN_SECONDS old, and so is everything
        before it: a client whose edit is in flight, or who reconnects within
        that time, is always told what became of it, and catch-up never meets
        a hole (even when workers' clocks disagree about created_at). Nothing
        after the stored text's revision goes: the text now is built from it.
        """
        document = self.document
        cutoff = timezone.now() - timedelta(seconds=settings.EDITOR_OPLOG_RETAIN_SECONDS)
        bound = min(document.rev - settings.EDITOR_OPLOG_RETAIN, document.snapshot_rev)
        youngest_kept = Operation.objects.filter(document=document, created_at__gte=cutoff).aggregate(
            Min("rev")
        )["rev__min"]
        if youngest_kept is not None:
            bound = min(bound, youngest_kept - 1)
        Operation.objects.filter(document=document, rev__lte=bound).delete()
