"""Webhooks end to end in one worker: subscribe over the API, edit over HTTP and a socket,
come and go; a real local receiver verifies the Standard Webhooks signatures; failing
receivers are retried with the same id, then given up; lost rights stop deliveries."""

from __future__ import annotations

import asyncio
import socket

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from standardwebhooks import Webhook, WebhookVerificationError

from editor.access import grants
from editor.access.rules import Role
from editor.api import callers
from editor.live import worker
from editor.models import Document, WebhookDelivery, WebhookSubscription
from tests.api.client import Api, amake_token, amake_user
from tests.documents import anew_document
from tests.tabs import append, open_tab

from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

QUICK = {
    "EDITOR_WEBHOOK_DEBOUNCE_SECONDS": 0.2,
    "EDITOR_WEBHOOK_POLL_SECONDS": 0.2,
    "EDITOR_WEBHOOK_RETRY_SECONDS": [0.1, 0.1],
    "EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS": True,
}


@pytest.fixture(autouse=True)
def quick_webhooks():
    callers.reset_rates()
    with override_settings(**QUICK):
        yield


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def alice():
    return await amake_user("alice")


@pytest.fixture
async def api(alice) -> Api:
    return Api(await amake_token(alice, "write"))


async def arrived(receiver: Receiver, count: int, event: str | None = None):
    return await asyncio.to_thread(receiver.wait_for, count, event=event)


async def delivery_when(done) -> WebhookDelivery:
    """The (only) delivery, once ``done(delivery)`` holds: its outcome is recorded after the
    receiver answered, so there is nothing to wait on but the row."""
    async with asyncio.timeout(10):
        while True:
            delivery = await WebhookDelivery.objects.afirst()
            if delivery is not None and done(delivery):
                return delivery
            await asyncio.sleep(0.05)


def verified(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


async def test_changes_and_people_are_delivered_signed(api, receiver, alice):
    await sync_to_async(Document.objects.create)(slug="doc", owner=alice, visibility="private")
    response = await api.post(
        "/webhooks/",
        {
            "url": receiver.url,
            "events": ["document.changed", "person.joined", "person.left"],
            "document": "doc",
        },
    )
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    await api.post("/documents/doc/append", {"text": "ab"})
    await api.post("/documents/doc/append", {"text": "cd"})
    [changed] = await arrived(receiver, 1, "document.changed")
    event = verified(secret, changed)
    assert event["data"] == {
        "slug": "doc",
        "revisions": {"from": 1, "to": 2},
        "authors": [{"name": "alice", "user": "alice"}],
    }
    assert changed.headers["webhook-id"].startswith("msg_")


async def test_people_joining_and_leaving_are_delivered(api, receiver):
    await anew_document("pub")  # public: anyone may open it
    secret = (
        await api.post(
            "/webhooks/", {"url": receiver.url, "events": ["person.joined", "person.left"], "document": "pub"}
        )
    ).json()["secret"]
    tab, snapshot = await open_tab("pub", "?name=Bob")
    [joined] = await arrived(receiver, 1, "person.joined")
    assert verified(secret, joined)["data"] == {
        "slug": "pub",
        "session": snapshot["session"],
        "name": "Bob",
        "signed_in": False,
        "people": 1,
    }
    await tab.send({"type": "op", "rev": 0, "op": append(0, "x"), "id": "t1"})
    await tab.receive_type("ack")
    await tab.close()
    [left] = await arrived(receiver, 1, "person.left")
    assert verified(secret, left)["data"]["people"] == 0
    assert not [r for r in receiver.received if r.event["type"] == "document.changed"]  # not subscribed


async def test_a_tabs_typing_is_one_change_with_its_author(api, receiver):
    await anew_document("pub")
    secret = (
        await api.post("/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "pub"})
    ).json()["secret"]
    tab, _ = await open_tab("pub", "?name=Bob")
    for rev, text in enumerate("hey"):
        await tab.send({"type": "op", "rev": rev, "op": append(rev, text), "id": f"t{rev}"})
        await tab.receive_type("ack")
    [changed] = await arrived(receiver, 1)
    data = verified(secret, changed)["data"]
    assert data["revisions"] == {"from": 1, "to": 3}
    assert data["authors"] == [{"name": "Bob", "user": None}]
    await tab.close()


async def test_a_failing_receiver_is_tried_again_with_the_same_id_until_it_answers(api):
    await anew_document("pub")
    with Receiver(fail=2) as receiver:
        secret = (
            await api.post(
                "/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "pub"}
            )
        ).json()["secret"]
        await api.post("/documents/pub/append", {"text": "x"})
        tries = await arrived(receiver, 3)
        assert len({t.headers["webhook-id"] for t in tries}) == 1
        for attempt in tries:
            verified(secret, attempt)
        delivery = await delivery_when(lambda d: d.delivered_at is not None)
        assert (delivery.attempts, delivery.last_status, delivery.failed_at) == (3, 204, None)


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_schedule(api):
    await anew_document("pub")
    with Receiver(fail=100) as receiver:
        await api.post("/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "pub"})
        await api.post("/documents/pub/append", {"text": "x"})
        await arrived(receiver, 3)  # the first try and one per pause
        delivery = await delivery_when(lambda d: d.failed_at is not None)
        assert (delivery.attempts, delivery.last_status, delivery.last_error) == (3, 500, "answered 500")
        assert len(receiver.received) == 3


async def test_a_subscriber_who_loses_access_is_sent_nothing_more(receiver, alice):
    owner = await amake_user("owner")
    document = await sync_to_async(Document.objects.create)(slug="doc", owner=owner, visibility="private")
    await sync_to_async(grants.share)(document=document, user=alice, role=Role.VIEWER)
    viewer = Api(await amake_token(alice, "write"))
    created = await viewer.post(
        "/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "doc"}
    )
    assert created.status_code == 201
    await sync_to_async(grants.unshare)(document=document, user_id=alice.pk)
    owner_api = Api(await amake_token(owner, "write"))
    with override_settings(EDITOR_WEBHOOK_RETRY_SECONDS=[]):
        await owner_api.post("/documents/doc/append", {"text": "secret"})
        delivery = await delivery_when(lambda d: d.failed_at is not None)
    assert delivery.last_error == "the subscriber can no longer see the document"
    assert receiver.received == []


async def test_a_subscription_to_every_owned_document_hears_one_made_later(api, receiver):
    secret = (await api.post("/webhooks/", {"url": receiver.url, "events": ["document.changed"]})).json()[
        "secret"
    ]
    await api.post("/documents/", {"slug": "later", "text": "new"})
    [changed] = await arrived(receiver, 1)
    assert verified(secret, changed)["data"]["slug"] == "later"


async def test_a_wrong_secret_does_not_verify(api, receiver):
    await anew_document("pub")
    await api.post("/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "pub"})
    await api.post("/documents/pub/append", {"text": "x"})
    [changed] = await arrived(receiver, 1)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(changed.body, changed.headers)


async def test_subscriptions_are_listed_and_removed_and_their_deliveries_read(api, receiver):
    await anew_document("pub")
    made = (
        await api.post("/webhooks/", {"url": receiver.url, "events": ["document.changed"], "document": "pub"})
    ).json()
    listed = (await api.get("/webhooks/")).json()
    assert [(s["id"], s["document"]) for s in listed] == [(made["id"], "pub")]
    assert "secret" not in listed[0]
    await api.post("/documents/pub/append", {"text": "x"})
    await arrived(receiver, 1)
    deliveries = (await api.get(f"/webhooks/{made['id']}/deliveries")).json()
    assert [d["event"] for d in deliveries] == ["document.changed"]
    other = Api(await amake_token(await amake_user("mallory"), "write"))
    assert (await other.get(f"/webhooks/{made['id']}/deliveries")).status_code == 404
    assert (await other.send("DELETE", f"/webhooks/{made['id']}")).status_code == 404
    assert (await api.send("DELETE", f"/webhooks/{made['id']}")).status_code == 204
    assert (await api.get("/webhooks/")).json() == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://10.0.0.5/hook", "http://localhost/x", "ftp://example.com/x"]
)
async def test_urls_into_the_servers_own_network_are_refused(api, url):
    with override_settings(EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS=False):
        response = await api.post("/webhooks/", {"url": url, "events": ["document.changed"]})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-url"


async def test_a_private_document_cannot_be_subscribed_to_by_a_stranger(api):
    owner = await amake_user("owner")
    await sync_to_async(Document.objects.create)(slug="secret", owner=owner, visibility="private")
    response = await api.post(
        "/webhooks/", {"url": "http://example.com/h", "events": ["document.changed"], "document": "secret"}
    )
    assert response.status_code == 404


async def test_a_name_that_resolves_to_a_private_address_is_not_called(api, receiver):
    """Checked at each try, not only when subscribing: this machine's own name is loopback."""
    await anew_document("pub")
    url = receiver.url.replace("127.0.0.1", socket.gethostname())
    with override_settings(EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS=False, EDITOR_WEBHOOK_RETRY_SECONDS=[]):
        created = await api.post(
            "/webhooks/", {"url": url, "events": ["document.changed"], "document": "pub"}
        )
        assert created.status_code == 201, created.content
        await api.post("/documents/pub/append", {"text": "x"})
        delivery = await delivery_when(lambda d: d.failed_at is not None)
    assert "resolves to a private address" in delivery.last_error
    assert receiver.received == []


async def test_a_url_whose_port_is_not_a_port_is_refused(api):
    response = await api.post(
        "/webhooks/", {"url": "http://example.com:99999/h", "events": ["document.changed"]}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-url"


async def test_subscriptions_per_document_are_capped_at_the_limit(api):
    await anew_document("pub")
    body = {"url": "http://example.com/h", "events": ["document.changed"], "document": "pub"}
    with override_settings(EDITOR_WEBHOOKS_PER_DOCUMENT=2):
        assert [(await api.post("/webhooks/", body)).status_code for _ in range(2)] == [201, 201]
        refused = await api.post("/webhooks/", body)
    assert refused.status_code == 409
    assert refused.json()["code"] == "too-many-webhooks"


async def test_subscribing_again_with_the_same_idempotency_key_makes_one_subscription(api):
    body = {"url": "http://example.com/h", "events": ["document.changed"]}
    first = await api.post("/webhooks/", body, {"Idempotency-Key": "sub-1"})
    again = await api.post("/webhooks/", body, {"Idempotency-Key": "sub-1"})
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert await WebhookSubscription.objects.acount() == 1


async def test_a_delivery_whose_tries_died_without_an_outcome_is_given_up(api, alice):
    await anew_document("pub")
    await worker.current()  # the dispatcher runs with the worker
    made = (
        await api.post(
            "/webhooks/", {"url": "http://example.com/h", "events": ["document.changed"], "document": "pub"}
        )
    ).json()
    await WebhookDelivery.objects.acreate(
        subscription_id=made["id"],
        message_id="msg_dead",
        event="document.changed",
        payload={"data": {"slug": "pub"}},
        attempts=len(QUICK["EDITOR_WEBHOOK_RETRY_SECONDS"]) + 1,
    )
    await api.post(
        "/webhooks/", {"url": "http://example.com/h2", "events": ["document.changed"]}
    )  # wakes the loop
    delivery = await delivery_when(lambda d: d.failed_at is not None)
    assert delivery.last_error == "no outcome was recorded for its last try"
