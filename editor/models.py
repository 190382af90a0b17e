"""What the editor stores: documents, their operation log, editing sessions."""

from django.db import models
from django.db.models import Q


class Document(models.Model):
    """A shared text. ``text`` is always the result of applying revisions 1..``rev``."""

    slug = models.SlugField(max_length=64, unique=True)
    text = models.TextField(blank=True, default="")
    rev = models.PositiveBigIntegerField(default=0, help_text="Revision of the text.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name="last change")

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.slug


class Operation(models.Model):
    """One accepted edit, transformed to apply on revision ``rev - 1``.

    Only the most recent revisions are kept (EDITOR_OPLOG_RETAIN); they let a
    reconnecting client catch up and recognise its own already-applied edits.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="operations")
    rev = models.PositiveBigIntegerField()
    op = models.JSONField()
    op_id = models.CharField(max_length=80, help_text="Id chosen by the client, for deduplication.")
    session_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "rev"]
        constraints = [
            models.UniqueConstraint(fields=["document", "rev"], name="operation_unique_rev"),
            models.UniqueConstraint(fields=["document", "op_id"], name="operation_unique_op_id"),
        ]

    def __str__(self) -> str:
        return f"{self.document.slug}@{self.rev}"


class EditingSession(models.Model):
    """One WebSocket connection to a document, from connect to disconnect."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=32, unique=True)
    client_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    worker = models.CharField(max_length=128, help_text="host:pid of the server process.")
    connected_at = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-connected_at"]
        indexes = [
            models.Index(fields=["document"], condition=Q(disconnected_at=None), name="session_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} on {self.document.slug}"

    @property
    def is_active(self) -> bool:
        return self.disconnected_at is None
