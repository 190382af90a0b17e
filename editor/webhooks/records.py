"""Subscriptions and deliveries in the database: synchronous, called through the thread pool.

A delivery is claimed by one worker at a time (a row lock, then a lease: its
next attempt moved on by LEASE), so several workers, or one that died
mid-delivery, never send it twice at once and never lose it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from editor.access import grants
from editor.models import Document, EditingSession, WebhookDelivery, WebhookSubscription

# A claimed delivery not sent within this long is due again (its worker died).
LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to try now: where, its signing secret, its id and body."""

    delivery_id: int
    url: str
    secret: str
    message_id: str
    body: str
    attempts: int  # including this one


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class UnsafeUrl(ValueError):
    """A receiver's URL this server will not call."""


def check_url(url: str) -> None:
    """http(s) only, with a host; a literal private or loopback address only where allowed
    (names are checked again when resolved, at each delivery: dispatch.py)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("a webhook URL is http:// or https:// with a host")
    try:
        parts.port  # noqa: B018 (raises on a port that is not one)
    except ValueError:
        raise UnsafeUrl("the URL's port is not a port number") from None
    if settings.EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        if parts.hostname == "localhost" or parts.hostname.endswith(".localhost"):
            raise UnsafeUrl("webhooks may not call this server's own network") from None
        return
    if not address.is_global:
        raise UnsafeUrl("webhooks may not call loopback or private addresses")


class TooMany(Exception):
    """A user, or a document, has as many subscriptions as allowed."""


def subscribe(*, user, url: str, events: list[str], document_id: int | None) -> WebhookSubscription:
    """A new subscription, within EDITOR_WEBHOOKS_PER_USER and EDITOR_WEBHOOKS_PER_DOCUMENT (each
    event is one request per subscription: unbounded, they would make the server a flood)."""
    check_url(url)
    if WebhookSubscription.objects.filter(user=user).count() >= settings.EDITOR_WEBHOOKS_PER_USER:
        raise TooMany(f"at most {settings.EDITOR_WEBHOOKS_PER_USER} webhooks per user")
    per_document = settings.EDITOR_WEBHOOKS_PER_DOCUMENT
    if (
        document_id is not None
        and WebhookSubscription.objects.filter(document_id=document_id).count() >= per_document
    ):
        raise TooMany(f"at most {per_document} webhooks per document")
    return WebhookSubscription.objects.create(
        user=user, url=url, events=sorted(set(events)), document_id=document_id, secret=new_secret()
    )


def watched() -> tuple[set[str], bool]:
    """The slugs some subscription hears of (its document, or every document its user owns), and
    whether any subscription is to every document of its user (which hears of new ones too)."""
    direct = Document.objects.filter(webhooks__isnull=False).order_by()
    owned = Document.objects.filter(owner__webhooks__document=None, owner__webhooks__isnull=False).order_by()
    any_to_all = WebhookSubscription.objects.filter(document=None).exists()
    return set(direct.values_list("slug", flat=True)) | set(owned.values_list("slug", flat=True)), any_to_all


def _subscriptions(slug: str, event: str) -> list[WebhookSubscription]:
    """Those that hear of this event on this document: its own, and its owner's for all."""
    document = Document.objects.filter(slug=slug).only("pk", "owner_id", "slug").first()
    if document is None:
        return []
    subscriptions = WebhookSubscription.objects.filter(
        Q(document=document) | Q(document=None, user_id=document.owner_id)
    ).select_related("user")
    return [s for s in subscriptions if event in s.events]


def _payload(event: str, data: dict) -> dict:
    return {"type": event, "timestamp": timezone.now().isoformat(), "data": data}


def _create(subscriptions: list[WebhookSubscription], event: str, data: dict) -> int:
    payload = _payload(event, data)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription=subscription,
                message_id="msg_" + secrets.token_hex(16),
                event=event,
                payload=payload,
            )
            for subscription in subscriptions
        ]
    )
    return len(subscriptions)


def record_change(*, slug: str, first_rev: int, last_rev: int, session_ids: list[str]) -> int:
    """A ``document.changed`` for each subscription that hears of it; how many."""
    subscriptions = _subscriptions(slug, WebhookSubscription.DOCUMENT_CHANGED)
    if not subscriptions:
        return 0
    sessions = EditingSession.objects.filter(session_id__in=session_ids).values_list(
        "display_name", "user__username"
    )
    authors = sorted(
        {(name, user) for name, user in sessions}, key=lambda author: (author[1] is None, author)
    )
    data = {
        "slug": slug,
        "revisions": {"from": first_rev, "to": last_rev},
        "authors": [{"name": name, "user": user} for name, user in authors],
    }
    return _create(subscriptions, WebhookSubscription.DOCUMENT_CHANGED, data)


def record_person(*, slug: str, event: str, person: dict) -> int:
    """A ``person.joined`` or ``person.left`` for each subscription that hears of it; how many."""
    subscriptions = _subscriptions(slug, event)
    if not subscriptions:
        return 0
    return _create(subscriptions, event, {"slug": slug, **person})


def claim_due(*, most: int) -> list[Due]:
    """Deliveries due now, claimed for LEASE; those whose user can no longer see the document
    (unshared, made private, deactivated) are given up instead, unsent."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(delivered_at=None, failed_at=None, next_attempt_at__lte=now)
            .select_related("subscription", "subscription__user", "subscription__document")
            .order_by("next_attempt_at")[:most]
        )
        due = []
        most_attempts = len(settings.EDITOR_WEBHOOK_RETRY_SECONDS) + 1
        for delivery in rows:
            subscription = delivery.subscription
            if delivery.attempts >= most_attempts:  # its tries died before recording an outcome
                delivery.failed_at = now
                delivery.last_error = delivery.last_error or "no outcome was recorded for its last try"
                delivery.save(update_fields=["failed_at", "last_error"])
                continue
            slug = delivery.payload.get("data", {}).get("slug")
            document_id = Document.objects.filter(slug=slug).values_list("pk", flat=True).first()
            visitor = grants.Visitor(user_id=subscription.user_id)
            if (
                document_id is None
                or not grants.access_for(document_id=document_id, visitor=visitor).can_view
            ):
                delivery.failed_at, delivery.last_error = now, "the subscriber can no longer see the document"
                delivery.save(update_fields=["failed_at", "last_error"])
                continue
            delivery.attempts += 1
            delivery.next_attempt_at = now + LEASE
            delivery.save(update_fields=["attempts", "next_attempt_at"])
            body = json.dumps(delivery.payload, separators=(",", ":"))
            due.append(
                Due(
                    delivery.pk,
                    subscription.url,
                    subscription.secret,
                    delivery.message_id,
                    body,
                    delivery.attempts,
                )
            )
    return due


def forget_finished(*, days: int = 7) -> int:
    """Delete deliveries made or given up more than ``days`` ago (from expire_sessions)."""
    before = timezone.now() - timedelta(days=days)
    finished = Q(delivered_at__lt=before) | Q(failed_at__lt=before)
    return WebhookDelivery.objects.filter(finished).delete()[0]


def record_outcome(due: Due, *, status: int | None, error: str = "") -> None:
    """Delivered (2xx), or due again after the next pause of EDITOR_WEBHOOK_RETRY_SECONDS (given
    up once they are spent)."""
    now = timezone.now()
    fields: dict = {"last_status": status, "last_error": error[:300]}
    if status is not None and 200 <= status < 300:
        fields["delivered_at"] = now
    else:
        pauses = settings.EDITOR_WEBHOOK_RETRY_SECONDS
        if due.attempts > len(pauses):
            fields["failed_at"] = now
        else:
            fields["next_attempt_at"] = now + timedelta(seconds=pauses[due.attempts - 1])
    WebhookDelivery.objects.filter(pk=due.delivery_id).update(**fields)
