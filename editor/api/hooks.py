"""/api/v1/webhooks/: a token's user subscribes to a document's events (or to those of every
document they own), lists and removes subscriptions, and reads their recent deliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from django.core.serializers.json import DjangoJSONEncoder
from ninja import Field, Router, Schema, Status
from pydantic import StrictStr

from editor.live import worker
from editor.live.threads import in_thread_pool
from editor.models import WebhookDelivery, WebhookSubscription
from editor.webhooks import records

from . import idempotency, writes
from .idempotency import Reply
from .problems import ApiError
from .schemas import PROBLEMS, SLUG, Body

router = Router(tags=["webhooks"])
Event = Literal["document.changed", "person.joined", "person.left"]
RECENT_DELIVERIES = 50


class SubscriptionIn(Body):
    url: StrictStr = Field(max_length=500, description="Where events are POSTed (http or https).")
    events: list[Event] = Field(min_length=1)
    document: StrictStr | None = Field(
        None, pattern=SLUG, description="A document's slug; null: every document you own, now and later."
    )


class SubscriptionOut(Schema):
    id: int
    url: str
    events: list[Event]
    document: str | None
    created_at: datetime


class NewSubscription(SubscriptionOut):
    secret: str = Field(description="Verifies webhook-signature (Standard Webhooks); shown only now.")


class Delivery(Schema):
    id: str = Field(description="webhook-id")
    event: Event
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    last_status: int | None
    last_error: str


def _out(subscription: WebhookSubscription, slug: str | None) -> dict:
    return {
        "id": subscription.pk,
        "url": subscription.url,
        "events": subscription.events,
        "document": slug,
        "created_at": subscription.created_at,
    }


@router.post("/", response={201: NewSubscription, **PROBLEMS})
async def subscribe(request, body: SubscriptionIn):
    """Subscribe to events: of a document you can see, or of every document you own."""
    caller = request.auth
    token = caller.require_write()
    document_id = None
    if body.document is not None:
        document_id = (await writes.visible(body.document, caller)).document_id

    async def work(seed: str | None) -> Reply:
        try:
            subscription = await in_thread_pool(records.subscribe)(
                user=token.user, url=body.url, events=list(body.events), document_id=document_id
            )
        except records.UnsafeUrl as error:
            raise ApiError(422, "invalid-url", str(error)) from None
        except records.TooMany as error:
            raise ApiError(409, "too-many-webhooks", str(error)) from None
        live = worker.existing()
        if live is not None:
            live.observer.subscribed(body.document)
        made = {**_out(subscription, body.document), "secret": subscription.secret}
        return Reply(201, json.loads(json.dumps(made, cls=DjangoJSONEncoder)))

    return await idempotency.run(request, caller, work)


def _subscriptions(user_id: int) -> list[tuple[WebhookSubscription, str | None]]:
    rows = WebhookSubscription.objects.filter(user_id=user_id).select_related("document")
    return [(row, row.document.slug if row.document else None) for row in rows]


@router.get("/", response={200: list[SubscriptionOut], **PROBLEMS})
async def list_subscriptions(request):
    """Your subscriptions (their secrets are not shown again)."""
    token = _token(request)
    return [_out(row, slug) for row, slug in await in_thread_pool(_subscriptions)(token.user_id)]


def _token(request):
    token = request.auth.token
    if token is None:
        raise ApiError(401, "unauthorized", "webhooks need a token", headers={"WWW-Authenticate": "Bearer"})
    return token


def _delete(user_id: int, subscription_id: int) -> bool:
    return WebhookSubscription.objects.filter(user_id=user_id, pk=subscription_id).delete()[0] > 0


@router.delete("/{subscription_id}", response={204: None, **PROBLEMS})
async def unsubscribe(request, subscription_id: int):
    """Remove a subscription; deliveries not yet made are dropped with it."""
    token = request.auth.require_write()
    if not await in_thread_pool(_delete)(token.user_id, subscription_id):
        raise ApiError(404, "unknown-webhook", f"you have no webhook {subscription_id}")
    return Status(204, None)


def _deliveries(user_id: int, subscription_id: int) -> list[WebhookDelivery] | None:
    if not WebhookSubscription.objects.filter(user_id=user_id, pk=subscription_id).exists():
        return None
    return list(WebhookDelivery.objects.filter(subscription_id=subscription_id)[:RECENT_DELIVERIES])


@router.get("/{subscription_id}/deliveries", response={200: list[Delivery], **PROBLEMS})
async def list_deliveries(request, subscription_id: int):
    """The latest deliveries, newest first: what was sent, how often, what the receiver said."""
    token = _token(request)
    deliveries = await in_thread_pool(_deliveries)(token.user_id, subscription_id)
    if deliveries is None:
        raise ApiError(404, "unknown-webhook", f"you have no webhook {subscription_id}")
    return [
        {
            "id": d.message_id,
            "event": d.event,
            "created_at": d.created_at,
            "attempts": d.attempts,
            "delivered_at": d.delivered_at,
            "failed_at": d.failed_at,
            "last_status": d.last_status,
            "last_error": d.last_error,
        }
        for d in deliveries
    ]
