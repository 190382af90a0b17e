"""What the editor stores: documents, their operation log, editing sessions, who may do what."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .access.rules import Role, Visibility


class Document(models.Model):
    """A shared text at revision ``rev``, ``length`` characters long.

    ``text`` is the text at revision ``snapshot_rev``; the operations after it
    give the text now (store/documents.py brings it up to date every so often, so
    that an edit writes one small row and no text).
    """

    slug = models.SlugField(max_length=64, unique=True)
    text = models.TextField(blank=True, default="")
    rev = models.PositiveBigIntegerField(default=0, help_text="The latest revision.")
    length = models.PositiveIntegerField(default=0, help_text="Characters at the latest revision.")
    snapshot_rev = models.PositiveBigIntegerField(default=0, help_text="The revision of the stored text.")
    read_only = models.BooleanField(default=False, help_text="Refuse edits; the page says so.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_documents",
        help_text="Who created it signed in; shares it and changes its visibility.",
    )
    visibility = models.CharField(
        max_length=16,
        choices=[(v.value, v.label) for v in Visibility],
        default=Visibility.PUBLIC.value,
        help_text="What everyone else may do; shares and links give more.",
    )
    access_rev = models.PositiveBigIntegerField(
        default=0,
        help_text="Grows with every change of who may do what; an edit sent under an older one is "
        "checked again (access/grants.py).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name="last change")

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.slug


class Operation(models.Model):
    """One accepted edit, transformed to apply on revision ``rev - 1``: the document's history.

    Its author is its session's (the signed-in user, or the anonymous session and its name),
    its time ``created_at``. Kept for ever unless EDITOR_HISTORY_KEEP_DAYS says otherwise; the
    recent ones (EDITOR_OPLOG_RETAIN, EDITOR_OPLOG_RETAIN_SECONDS) let a reconnecting client
    catch up and recognise its own already-applied edits, whatever the setting.
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


class Milestone(models.Model):
    """A document's text, and who wrote each character of it, at revision ``rev``: every
    EDITOR_HISTORY_MILESTONE_EVERY revisions, so that any revision is this plus fewer
    operations than that (store/history.py). The first one is where the history starts.

    ``authorship``: ``[[length, session id], ...]`` covering the text in order (ot/history.py);
    ``""`` for text written before history was kept.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="milestones")
    rev = models.PositiveBigIntegerField()
    text = models.TextField(blank=True, default="")
    authorship = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "rev"]
        constraints = [models.UniqueConstraint(fields=["document", "rev"], name="milestone_unique_rev")]

    def __str__(self) -> str:
        return f"{self.document.slug}@{self.rev}"


class Version(models.Model):
    """A revision someone saved with a name ("Sent to the printer"): a mark on the timeslider."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    rev = models.PositiveBigIntegerField()
    name = models.CharField(max_length=80)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=40, blank=True, help_text="Who saved it, as shown then.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "rev", "pk"]
        indexes = [models.Index(fields=["document", "rev"], name="version_document_rev_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.document.slug}@{self.rev})"


class EditingSession(models.Model):
    """One WebSocket connection to a document, from connect to disconnect.

    A worker that is killed never records the disconnect; its sessions stop
    being refreshed (``last_seen``) and are closed by whoever notices first
    (see liveness.py).
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=40, blank=True)
    person = models.CharField(
        max_length=32,
        blank=True,
        db_default="",  # rows written by workers older than this field
        help_text="The same for every tab of one user or one browser (a keyed hash, not the cookie).",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    worker = models.CharField(
        max_length=128, help_text="The server process (WORKER_ID, host:pid by default)."
    )
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    ops_sent = models.PositiveIntegerField(default=0, verbose_name="operations sent")

    class Meta:
        ordering = ["-connected_at"]
        indexes = [
            models.Index(fields=["document"], condition=Q(disconnected_at=None), name="session_active_idx"),
            models.Index(
                fields=["worker"], condition=Q(disconnected_at=None), name="session_active_worker_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} on {self.document.slug}"

    @property
    def is_active(self) -> bool:
        return self.disconnected_at is None


ROLE_CHOICES = [(Role.EDITOR.value_name, "editor"), (Role.VIEWER.value_name, "viewer")]


class Share(models.Model):
    """A document shared by its owner with one user, as editor or viewer."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    role = models.CharField(max_length=8, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "user"]
        constraints = [models.UniqueConstraint(fields=["document", "user"], name="share_unique_user")]

    def __str__(self) -> str:
        return f"{self.document.slug}: {self.user} ({self.role})"


class ShareLink(models.Model):
    """A link that gives its holder a role on one document, signed in or not.

    Only the token's SHA-256 is stored: the link is shown once, when made.
    A revoked link stays, so that its holders are told it was revoked.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="links")
    role = models.CharField(max_length=8, choices=ROLE_CHOICES)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8, help_text="The token's first characters, to tell links apart.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["document", "-created_at"]

    def __str__(self) -> str:
        return f"{self.role} link {self.hint}… to {self.document.slug}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiToken(models.Model):
    """A key to the HTTP API (editor/api/): it acts as its user, within its scope, until it expires
    or is revoked. Only the token's SHA-256 is stored: it is shown once, when made."""

    READ, WRITE = "read", "write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, blank=True, help_text="What it is for, to tell tokens apart.")
    scope = models.CharField(
        max_length=8,
        choices=[(READ, "read"), (WRITE, "read and write")],
        default=READ,
        help_text="read: GET only; write: also create and edit documents (within the user's rights).",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["user", "-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.hint}… ({self.scope}) of {self.user}"

    def usable(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotentRequest(models.Model):
    """A POST made with an ``Idempotency-Key``: its answer, given again to a repeat of it.

    ``status`` is empty while the first request is being answered (or if it died meanwhile:
    then a repeat after a while runs it again, which edits recognise by their id).
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="The answer's Location and ETag.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotent_unique_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotent_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'unanswered'})"


class WebhookSubscription(models.Model):
    """Where to POST a user's events: of one document, or of every document the user owns.

    ``secret`` signs each delivery as Standard Webhooks do; it is kept (it must be, to sign),
    and shown to the user when the subscription is made.
    """

    DOCUMENT_CHANGED, PERSON_JOINED, PERSON_LEFT = "document.changed", "person.joined", "person.left"
    EVENTS = (DOCUMENT_CHANGED, PERSON_JOINED, PERSON_LEFT)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    document = models.ForeignKey(
        Document,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Empty: every document the user owns.",
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80, editable=False)
    events = models.JSONField(default=list, help_text=f"Some of {', '.join(EVENTS)}.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "-created_at"]
        verbose_name = "webhook"

    def __str__(self) -> str:
        return f"{self.url} ({self.document or 'all owned documents'})"


class WebhookDelivery(models.Model):
    """One event for one subscription: tried until its receiver answers 2xx, with pauses that
    grow (EDITOR_WEBHOOK_RETRY_SECONDS), then given up; the admin's delivery log."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=40, unique=True, help_text="webhook-id: the same on every try.")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up.")
    last_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The receiver's answer.")
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at=None, failed_at=None),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.message_id}"
