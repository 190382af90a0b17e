"""The database implementation of ``engine.DocumentLog``."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from .engine import LoggedOperation
from .models import Document, Operation

# Compaction runs on every this-many-th revision, deleting what falls out of
# EDITOR_OPLOG_RETAIN, so its cost is spread thinly over the edits.
COMPACT_EVERY = 100

_FIELDS = ("rev", "op", "op_id", "session_id")


class DatabaseDocumentLog:
    """A document row and its operation rows; lock the row first to write."""

    def __init__(self, document: Document) -> None:
        self.document = document

    @property
    def rev(self) -> int:
        return self.document.rev

    @property
    def text(self) -> str:
        return self.document.text

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

    def append(self, operation: LoggedOperation, text: str) -> None:
        document = self.document
        document.text, document.rev = text, operation.rev
        document.save(update_fields=["text", "rev", "updated_at"])
        Operation.objects.create(
            document=document,
            rev=operation.rev,
            op=operation.op,
            op_id=operation.op_id,
            session_id=operation.session_id,
        )
        if operation.rev % COMPACT_EVERY == 0:
            self._compact()

    def _compact(self) -> None:
        """Forget the oldest operations, always a prefix of the log.

        An operation goes only when it is more than EDITOR_OPLOG_RETAIN
        revisions and EDITOR_OPLOG_RETAIN_SECONDS old, and so is everything
        before it: a client whose edit is in flight, or who reconnects within
        that time, is always told what became of it, and catch-up never meets
        a hole (even when workers' clocks disagree about created_at).
        """
        document = self.document
        cutoff = timezone.now() - timedelta(seconds=settings.EDITOR_OPLOG_RETAIN_SECONDS)
        bound = document.rev - settings.EDITOR_OPLOG_RETAIN
        youngest_kept = Operation.objects.filter(document=document, created_at__gte=cutoff).aggregate(
            Min("rev")
        )["rev__min"]
        if youngest_kept is not None:
            bound = min(bound, youngest_kept - 1)
        Operation.objects.filter(document=document, rev__lte=bound).delete()
