"""Idempotency-Key on every POST: a repeat gets the first answer and changes nothing; another
body under the key is refused; a first try that died is finished by its repeat."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from editor.api import callers, writes
from editor.api.idempotency import ABANDONED_AFTER, request_fingerprint
from editor.live import worker
from editor.live.limits import ApiRates, Rate
from editor.models import ApiToken, Document, IdempotentRequest, Operation
from editor.ot.server import Edit
from tests.documents import anew_document, aread_document

from .client import Api, amake_token, amake_user

pytestmark = pytest.mark.django_db(transaction=True)


KEY = {"Idempotency-Key": "append-1"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/documents/doc/append", {"text": "!"}),
        ("/documents/doc/insert", {"position": 0, "text": "!", "rev": 0}),
        ("/documents/doc/operations", {"rev": 0, "op": [3, "!"], "id": "op-1"}),
    ],
)
async def test_a_repeated_post_answers_the_same_and_edits_once(writer, path, body):
    await anew_document("doc", "abc")
    first = await writer.post(path, body, KEY)
    assert first.status_code == 200, first.content
    await writer.post("/documents/doc/append", {"text": "+"})  # the document moves on meanwhile
    again = await writer.post(path, body, KEY)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (await aread_document("doc"))[0] == 2


async def test_a_repeated_create_answers_201_again(writer):
    """With its body and Location (and its ETag: test_a_replayed_create_gives_its_etag_again)."""
    body = {"slug": "fresh", "text": "hi"}
    first = await writer.post("/documents/", body, KEY)
    again = await writer.post("/documents/", body, KEY)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]


async def test_the_same_key_with_another_body_is_refused(writer):
    await anew_document("doc", "")
    await writer.post("/documents/doc/append", {"text": "a"}, KEY)
    response = await writer.post("/documents/doc/append", {"text": "b"}, KEY)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency-key-reused"
    assert await aread_document("doc") == (1, "a")


async def test_keys_belong_to_their_token(writer):
    await anew_document("doc", "")
    other = Api(await amake_token(await amake_user("bob"), "write"))
    await writer.post("/documents/doc/append", {"text": "a"}, KEY)
    assert (await other.post("/documents/doc/append", {"text": "a"}, KEY)).status_code == 200
    assert await aread_document("doc") == (2, "aa")


async def test_a_refusal_is_kept_too_but_a_429_is_not(writer):
    await anew_document("doc", "ab")
    body = {"position": 9, "text": "x", "rev": 0}
    first = await writer.post("/documents/doc/insert", body, KEY)
    again = await writer.post("/documents/doc/insert", body, KEY)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
    assert again["Content-Type"] == "application/problem+json"


async def the_token() -> ApiToken:
    return await ApiToken.objects.aget()


async def unanswered(key: str, body: dict, *, age: timedelta) -> None:
    """A first request with this key, still being answered (or dead) for ``age``."""
    fingerprint = request_fingerprint("POST", "/api/v1/documents/doc/append", json.dumps(body).encode())
    record = await IdempotentRequest.objects.acreate(
        token=await the_token(), key=key, fingerprint=fingerprint
    )
    await IdempotentRequest.objects.filter(pk=record.pk).aupdate(created_at=timezone.now() - age)


async def test_a_repeat_while_the_first_is_still_being_answered_is_409(writer):
    await anew_document("doc", "")
    await unanswered("busy", {"text": "a"}, age=timedelta(seconds=1))
    response = await writer.post("/documents/doc/append", {"text": "a"}, {"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency-key-in-use"
    assert response["Retry-After"] == "1"
    assert await aread_document("doc") == (0, "")


async def test_a_first_request_unanswered_for_a_minute_is_run_again_by_its_repeat(writer):
    await anew_document("doc", "")
    await unanswered("dead", {"text": "a"}, age=ABANDONED_AFTER + timedelta(seconds=1))
    response = await writer.post("/documents/doc/append", {"text": "a"}, {"Idempotency-Key": "dead"})
    assert response.status_code == 200
    assert await aread_document("doc") == (1, "a")


async def test_a_first_try_that_died_after_its_commit_is_finished_by_the_repeat(writer):
    """The edit took its id from the key; the repeat finds it by that id, and edits nothing."""
    await anew_document("doc", "abc")
    token = await the_token()
    live = await worker.current()
    body = json.dumps({"text": "!"}).encode()
    seed = f"{token.pk}:died:{request_fingerprint('POST', '/api/v1/documents/doc/append', body)}"
    # What the first try committed before its process died, unanswered:
    await live.committer.submit(Edit("doc", 0, [3, "!"], writes.derived_op_id(seed), "died-session"))
    await writer.post("/documents/doc/append", {"text": "+"})
    await unanswered("died", {"text": "!"}, age=ABANDONED_AFTER + timedelta(seconds=1))
    response = await writer.post("/documents/doc/append", {"text": "!"}, {"Idempotency-Key": "died"})
    assert response.status_code == 200, response.content
    assert response.json()["rev"] == 1
    assert await aread_document("doc") == (2, "abc!+")
    assert await Operation.objects.filter(document__slug="doc").acount() == 2


async def test_a_malformed_key_is_400(writer):
    await anew_document("doc", "")
    response = await writer.post("/documents/doc/append", {"text": "a"}, {"Idempotency-Key": "has space"})
    assert response.status_code == 400
    assert await aread_document("doc") == (0, "")


async def test_a_429_is_not_kept_and_the_repeat_runs_anew(writer):
    await anew_document("doc", "")
    with override_settings(EDITOR_API_RATES=ApiRates(requests=Rate(1000, 1000), edits=Rate(0.001, 1))):
        callers.reset_rates()
        assert (await writer.post("/documents/doc/append", {"text": "a"})).status_code == 200
        refused = await writer.post("/documents/doc/append", {"text": "b"}, KEY)
        assert refused.status_code == 429
    callers.reset_rates()
    again = await writer.post("/documents/doc/append", {"text": "b"}, KEY)
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again
    assert await aread_document("doc") == (2, "ab")


async def test_a_key_used_again_after_its_answer_expired_makes_a_new_edit(writer):
    await anew_document("doc", "")
    await writer.post("/documents/doc/append", {"text": "first"}, KEY)
    await IdempotentRequest.objects.aupdate(created_at=timezone.now() - timedelta(hours=25))
    response = await writer.post("/documents/doc/append", {"text": " second"}, KEY)
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert await aread_document("doc") == (2, "first second")


async def test_a_create_over_the_edit_rate_makes_no_document(writer):
    with override_settings(EDITOR_API_RATES=ApiRates(requests=Rate(1000, 1000), edits=Rate(0.001, 1))):
        callers.reset_rates()
        await writer.post("/documents/", {"slug": "one", "text": "x"})
        response = await writer.post("/documents/", {"slug": "two", "text": "x"}, KEY)
    assert response.status_code == 429
    assert not await Document.objects.filter(slug="two").aexists()
    callers.reset_rates()
    assert (await writer.post("/documents/", {"slug": "two", "text": "x"}, KEY)).status_code == 201


async def test_a_create_that_died_after_making_the_document_is_finished_by_its_repeat(writer):
    body = {"slug": "half", "text": "text"}
    token = await the_token()
    await Document.objects.acreate(slug="half", owner_id=token.user_id)  # what the first try did
    fingerprint = request_fingerprint("POST", "/api/v1/documents/", json.dumps(body).encode())
    record = await IdempotentRequest.objects.acreate(token=token, key="half", fingerprint=fingerprint)
    await IdempotentRequest.objects.filter(pk=record.pk).aupdate(
        created_at=timezone.now() - ABANDONED_AFTER * 2
    )
    response = await writer.post("/documents/", body, {"Idempotency-Key": "half"})
    assert response.status_code == 201, response.content
    assert await aread_document("half") == (1, "text")


async def test_a_replayed_create_gives_its_etag_again(writer):
    body = {"slug": "fresh", "text": "hi"}
    first = await writer.post("/documents/", body, KEY)
    again = await writer.post("/documents/", body, KEY)
    assert again["ETag"] == first["ETag"] == '"1"'
