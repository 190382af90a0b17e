"""The API's limits, at exactly the limit and one past it: body size, requests and edits a
second; each refusal a clear 413 or 429 with Retry-After, and nothing changed."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from editor.api import callers
from editor.live.limits import ApiRates, Rate
from tests.documents import anew_document, aread_document

from .client import Api, amake_token, amake_user

pytestmark = pytest.mark.django_db(transaction=True)


def limited(requests: Rate, edits: Rate):
    """Settings with these rates, and fresh buckets for them (reset again afterwards)."""
    with override_settings(EDITOR_API_RATES=ApiRates(requests=requests, edits=edits)):
        callers.reset_rates()
        yield
    callers.reset_rates()


@pytest.fixture
def few_edits():
    yield from limited(Rate(1000, 1000), Rate(0.001, 3))


@pytest.fixture
def few_requests():
    yield from limited(Rate(0.001, 3), Rate(1000, 1000))


@pytest.fixture
def small_bodies():
    with override_settings(EDITOR_API_MAX_BODY_BYTES=100):
        callers.reset_rates()
        yield 100


async def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_413(writer, small_bodies):
    await anew_document("doc", "")
    overhead = len(json.dumps({"text": ""}))
    at_limit = json.dumps({"text": "a" * (small_bodies - overhead)}).encode()
    assert len(at_limit) == small_bodies
    response = await writer.send("POST", "/documents/doc/append", raw=at_limit)
    assert response.status_code == 200, response.content
    over = json.dumps({"text": "a" * (small_bodies - overhead + 1)}).encode()
    response = await writer.send("POST", "/documents/doc/append", raw=over)
    assert response.status_code == 413
    assert response.json()["code"] == "body-too-large"
    assert await aread_document("doc") == (1, "a" * (small_bodies - overhead))


async def test_the_burst_of_edits_is_taken_and_the_next_is_429_with_retry_after(writer, few_edits):
    await anew_document("doc", "")
    for _ in range(3):
        assert (await writer.post("/documents/doc/append", {"text": "x"})).status_code == 200
    response = await writer.post("/documents/doc/append", {"text": "y"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "rate-limited"
    assert await aread_document("doc") == (3, "xxx")
    assert (await writer.get("/documents/doc")).status_code == 200  # reads are not edits


async def test_edits_are_counted_per_token(writer, few_edits):
    await anew_document("doc", "")
    for _ in range(3):
        await writer.post("/documents/doc/append", {"text": "x"})
    other = Api(await amake_token(await amake_user("bob"), "write"))
    assert (await other.post("/documents/doc/append", {"text": "b"})).status_code == 200


async def test_the_burst_of_requests_is_taken_and_the_next_is_429(writer, few_requests):
    await anew_document("doc", "", rev=0)
    for _ in range(3):
        assert (await writer.get("/documents/doc")).status_code == 200
    response = await writer.get("/documents/doc")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert (await Api().get("/documents/doc")).status_code == 200  # anonymous: the address's bucket


def test_buckets_forget_the_least_recently_used_keys():
    buckets = callers.KeyedBuckets(Rate(0.001, 1), most_keys=2)
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0
    assert buckets.take("a") > 0  # still known: its bucket is empty
    assert buckets.take("c") == 0  # "b" is forgotten now
    assert buckets.take("b") == 0


async def test_refused_tokens_use_up_their_addresss_requests(few_requests):
    await anew_document("doc", "")
    guesser = Api("rte_guess")
    for _ in range(3):
        assert (await guesser.get("/documents/doc")).status_code == 401
    response = await guesser.get("/documents/doc")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
