"""The OpenAPI description (3.1, its security scheme, reads open to anonymous callers,
problems as problem+json), JSON 404s under /api/, and the cleanup of the API's leftovers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from editor.api import tokens
from editor.models import Document, IdempotentRequest, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def test_the_description_is_openapi_3_1_with_the_bearer_scheme(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"] == "3.1.0"
    assert schema["components"]["securitySchemes"] == {"BearerToken": {"type": "http", "scheme": "bearer"}}
    read = schema["paths"]["/api/v1/documents/{slug}"]["get"]
    assert read["security"] == [{"BearerToken": []}, {}]  # anonymous reads
    append = schema["paths"]["/api/v1/documents/{slug}/append"]["post"]
    assert append["security"] == [{"BearerToken": []}]
    assert schema["paths"]["/api/v1/webhooks/"]["get"]["security"] == [{"BearerToken": []}]
    assert list(append["responses"]["409"]["content"]) == ["application/problem+json"]
    put = schema["paths"]["/api/v1/documents/{slug}/text"]["put"]
    assert {p["name"]: p["required"] for p in put["parameters"] if p["in"] == "header"} == {"If-Match": True}
    assert set(schema["paths"]) >= {
        "/api/v1/documents/",
        "/api/v1/documents/{slug}",
        "/api/v1/documents/{slug}/operations",
        "/api/v1/documents/{slug}/append",
        "/api/v1/documents/{slug}/insert",
        "/api/v1/documents/{slug}/text",
        "/api/v1/documents/{slug}/people",
        "/api/v1/webhooks/",
    }


def test_an_unknown_path_under_the_api_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unknown-endpoint"


def test_expire_sessions_forgets_old_idempotent_answers_and_finished_deliveries(django_user_model, capsys):
    user = django_user_model.objects.create_user("owner")
    token, _ = tokens.create_token(user=user, scope="write")
    old, recent = (
        IdempotentRequest.objects.create(token=token, key=key, fingerprint="f", status=200, body={})
        for key in ("old", "recent")
    )
    IdempotentRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    document = Document.objects.create(slug="doc")
    subscription = WebhookSubscription.objects.create(
        user=user, document=document, url="http://x.test/", events=[]
    )
    week_ago = timezone.now() - timedelta(days=8)
    finished = [
        WebhookDelivery.objects.create(
            subscription=subscription, message_id=f"m{n}", event="e", payload={}, **fields
        )
        for n, fields in enumerate([{"delivered_at": week_ago}, {"failed_at": week_ago}])
    ]
    kept = [
        WebhookDelivery.objects.create(
            subscription=subscription, message_id=f"k{n}", event="e", payload={}, **fields
        )
        for n, fields in enumerate([{"delivered_at": timezone.now()}, {}])
    ]
    call_command("expire_sessions")
    output = capsys.readouterr().out
    assert "forgot 1 idempotent answer(s)" in output
    assert "forgot 2 finished webhook delivery(ies)" in output
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["recent"]
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in finished]).exists()
    assert recent.pk


def test_the_admin_lists_deliveries_and_sends_them_again(admin_client, django_user_model):
    user = django_user_model.objects.create_user("owner")
    subscription = WebhookSubscription.objects.create(user=user, url="http://x.test/", events=[])
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        message_id="msg_1",
        event="document.changed",
        payload={},
        attempts=7,
        failed_at=timezone.now(),
        last_status=500,
        last_error="answered 500",
    )
    listing = admin_client.get("/admin/editor/webhookdelivery/").content.decode()
    assert "msg_1" in listing
    assert "answered 500" in listing
    admin_client.post(
        "/admin/editor/webhookdelivery/", {"action": "send_again", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert (delivery.failed_at, delivery.attempts) == (None, 0)
    assert delivery.next_attempt_at <= timezone.now()
