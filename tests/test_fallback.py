"""The fallback transport (editor/fallback.py, live/fallback.py) against real Daphne workers on
the real Redis and PostgreSQL: a session opened on one worker is read and written through
another; the same consumer, limits and rights as a WebSocket; resumable event streams; every
refusal documented."""

import asyncio
import json
import re
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from editor.access.rules import Visibility
from editor.models import Document
from tests.documents import aread_document
from tests.fallbacktab import FallbackSession, stream_events
from tests.livetab import LiveTab

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

FAST = {"EDITOR_FALLBACK_POLL_SECONDS": "1", "EDITOR_FALLBACK_IDLE_SECONDS": "3"}


@pytest.fixture
def two_workers(start_worker):
    return start_worker("a", **FAST), start_worker("b", **FAST)


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def op_frame(rev: int, op: list, op_id: str) -> dict:
    return {"type": "op", "rev": rev, "op": op, "id": op_id}


async def test_a_session_opened_on_one_worker_is_read_and_written_through_the_other(two_workers, http):
    worker_a, worker_b = two_workers
    watcher = LiveTab(worker_a.ws_url, "relayed", "watcher")
    await watcher.connect()
    session = FallbackSession(http, worker_a.http_url, "relayed")
    opened = await session.open()
    assert opened.status_code == 201, opened.text

    frames, last = await session.frames_until(lambda f: f["type"] == "snapshot", base_url=worker_b.http_url)
    assert frames[-1]["text"] == ""
    assert frames[-1]["rev"] == 0
    sent = await session.send(op_frame(0, ["over http"], "fb-1"), base_url=worker_b.http_url)
    assert sent.status_code == 200
    assert sent.json() == {"next": 1}
    frames, last = await session.frames_until(
        lambda f: f["type"] == "ack", after=last, base_url=worker_b.http_url
    )
    assert frames[-1] == {"type": "ack", "rev": 1, "id": "fb-1"}
    await watcher.wait_for(lambda: watcher.text == "over http", what="the fallback's edit")
    assert [f["id"] for f in watcher.frames if f["type"] == "op"] == ["fb-1"]

    await watcher.insert(9, "!")
    frames, last = await session.frames_until(lambda f: f["type"] == "op", after=last)
    assert frames[-1]["op"] == [9, "!"]
    assert frames[-1]["rev"] == 2
    assert await aread_document("relayed") == (2, "over http!")
    assert (await session.close(base_url=worker_b.http_url)).status_code == 204
    assert (await session.poll(last, base_url=worker_a.http_url)).status_code == 410
    await watcher.close()


async def test_a_stream_resumes_after_its_last_event_id_without_gaps_or_repeats(two_workers, http):
    worker_a, worker_b = two_workers
    session = FallbackSession(http, worker_a.http_url, "stream")
    assert (await session.open()).status_code == 201
    url = session.url("events", worker_b.http_url)  # relayed: the session is on A
    first, acks = [], []
    async for event in stream_events(http, url):
        first.append(event)
        if event.event == "message" and event.frame["type"] == "snapshot":
            for n in range(3):  # sent while the stream is open; nothing acknowledges its events
                assert (
                    await session.send(op_frame(n, [n, str(n)] if n else ["0"], f"s-{n}"))
                ).status_code == 200
        if event.event == "message" and event.frame["type"] == "ack":
            acks.append(event)
            if len(acks) == 3:
                break
    assert first[0].event == "ready"  # first, so that a client can tell a held-back stream
    numbered = [event.id for event in first if event.event == "message"]
    assert numbered == list(range(1, len(numbered) + 1))

    resumed = []
    async for event in stream_events(http, url, last_event_id=acks[0].id):
        if event.event == "message":
            resumed.append(event)
            if event.frame["type"] == "ack" and event.frame["id"] == "s-2":
                break
    assert [event.id for event in resumed] == list(range(acks[0].id + 1, acks[2].id + 1))
    assert [e.frame["id"] for e in resumed if e.frame["type"] == "ack"] == ["s-1", "s-2"]
    assert await aread_document("stream") == (3, "012")
    await session.close()


async def test_frames_sent_again_are_taken_once_and_a_gap_is_refused(two_workers, http):
    worker_a, _ = two_workers
    session = FallbackSession(http, worker_a.http_url, "order")
    await session.open()
    _, last = await session.frames_until(lambda f: f["type"] == "snapshot")
    first = op_frame(0, ["a"], "o-1")
    assert (await session.send(first)).json() == {"next": 1}
    session.seq = 0  # the answer was lost: the same POST again, with one more frame
    assert (await session.send(first, op_frame(1, [1, "b"], "o-2"))).json() == {"next": 2}
    session.seq = 5
    gap = await session.send(op_frame(2, [2, "c"], "o-3"))
    assert gap.status_code == 409
    assert gap.json()["code"] == "out-of-order"
    assert gap.json()["expected"] == 2
    frames, _ = await session.frames_until(lambda f: f.get("id") == "o-2", after=last)
    assert [f["id"] for f in frames if f["type"] == "ack"] == ["o-1", "o-2"]
    assert await aread_document("order") == (2, "ab")
    await session.close()


async def test_a_long_poll_answers_when_an_event_arrives_or_empty_after_its_wait(two_workers, http):
    worker_a, worker_b = two_workers
    session = FallbackSession(http, worker_a.http_url, "waiting")
    await session.open()
    _, last = await session.frames_until(lambda f: f["type"] == "person")  # its own, after the snapshot
    began = time.monotonic()
    empty = await session.poll(last, base_url=worker_b.http_url)
    assert empty.status_code == 200
    assert empty.json() == {"events": []}
    assert time.monotonic() - began >= 0.9  # EDITOR_FALLBACK_POLL_SECONDS is 1 here
    waiting = asyncio.ensure_future(session.poll(last, base_url=worker_b.http_url))
    await session.send({"type": "ping"})
    answer = await waiting
    assert [json.loads(e["frame"])["type"] for e in answer.json()["events"]] == ["pong"]
    await session.close()


async def test_an_abandoned_session_is_closed_and_its_person_leaves(two_workers, http):
    worker_a, _ = two_workers
    watcher = LiveTab(worker_a.ws_url, "abandoned", "watcher")
    await watcher.connect()
    session = FallbackSession(http, worker_a.http_url, "abandoned")
    await session.open("?name=Gone+Soon")
    _, last = await session.frames_until(lambda f: f["type"] == "snapshot")

    def person(kind: str) -> list[dict]:
        return [f for f in watcher.frames if f["type"] == kind and f.get("name", "Gone Soon") == "Gone Soon"]

    await watcher.wait_for(lambda: person("person"), what="the fallback's person")
    gone = person("person")[0]["session"]
    # Nobody asks about it for EDITOR_FALLBACK_IDLE_SECONDS (3 here): as a dropped connection.
    await watcher.wait_for(
        lambda: any(f["session"] == gone for f in person("leave")), what="its leave", timeout=15
    )
    assert re.search(rf"disconnect doc=abandoned session={gone} ", worker_a.log())
    after = await session.poll(last)  # its close, until the worker forgets the session
    assert (
        after.json()["events"][-1]["close"]["code"] == 1006
        if after.status_code == 200
        else after.status_code == 410
    )
    await watcher.close()


async def test_refusals_are_documented_statuses_and_change_nothing(two_workers, http, start_worker):
    worker_a, worker_b = two_workers
    forged = FallbackSession(http, worker_a.http_url, "refused", origin="http://evil.example")
    opened = await forged.open()
    assert opened.status_code == 403
    assert opened.json()["code"] == "handshake-refused"

    session = FallbackSession(http, worker_a.http_url, "refused")
    await session.open()
    async with httpx.AsyncClient(timeout=10) as stranger:  # the token, not the opener's cookie
        stolen = await stranger.post(session.url("frames"), json={"seq": 0, "frames": ['{"type":"ping"}']})
        assert stolen.status_code == 403
        assert stolen.json()["code"] == "not-your-session"
        assert (await stranger.get(session.url("poll"), params={"after": 0})).status_code == 403
    bad_token = await http.get(f"{worker_b.http_url}/fallback/sessions/not-a-token/poll", params={"after": 0})
    assert bad_token.status_code == 400
    assert bad_token.json()["code"] == "bad-token"
    assert (await session.poll(-1)).status_code == 400
    assert (await session.poll(10**6)).json()["code"] == "events-gone"
    for body in (
        b"not json",
        b"[]",
        b'{"seq": -1, "frames": ["x"]}',
        b'{"seq": 0, "frames": []}',
        b'{"seq": 0, "frames": [1]}',
        b'{"seq": 0, "frames": ["x"], "more": 1}',
        b'{"seq": 0, "frames": ["\\ud800"]}',  # a lone surrogate: no text
        b'{"seq": 9007199254740992, "frames": ["x"]}',  # 2**53: past what JavaScript counts
        b'{"seq": 0, "frames": ["x"], "ack": -1}',
    ):
        refused = await http.post(session.url("frames"), content=body)
        assert (refused.status_code, refused.json()["code"]) == (400, "bad-request"), body
    most = 100  # EDITOR_INBOUND_QUEUE_FRAMES
    over = await session.send(*[{"type": "ping"}] * (most + 1))
    assert over.status_code == 413
    assert over.json()["code"] == "too-large"
    assert (await http.get(session.url("frames"))).status_code == 405
    assert await aread_document("refused") == (0, "")
    at_most = await session.send(*[{"type": "ping"}] * most)  # exactly the limit: taken
    assert at_most.status_code == 200
    assert at_most.json() == {"next": most}
    await session.close()


def private_document(slug: str) -> None:
    owner = get_user_model().objects.create_user(f"owner-{slug}", password="x" * 12)
    Document.objects.create(slug=slug, owner=owner, visibility=Visibility.PRIVATE.value)


async def test_the_same_rights_a_private_document_is_refused_as_on_a_socket(two_workers, http):
    worker_a, worker_b = two_workers
    await sync_to_async(private_document)("secret")
    session = FallbackSession(http, worker_a.http_url, "secret")
    assert (await session.open()).status_code == 201  # the handshake passes; the consumer refuses
    frames, _ = await session.frames_until(lambda f: f["type"] == "close", base_url=worker_b.http_url)
    assert [f["type"] for f in frames] == ["error", "close"]
    assert frames[0]["code"] == "forbidden"
    assert frames[1]["code"] == 4403
    assert "refused doc=secret" in worker_a.log()


async def test_the_same_limits_a_frame_over_the_limit_closes_with_1009_and_changes_nothing(
    start_worker, http
):
    worker = start_worker("small", EDITOR_MAX_FRAME_BYTES="1024", **FAST)
    session = FallbackSession(http, worker.http_url, "big")
    await session.open()
    _, last = await session.frames_until(lambda f: f["type"] == "snapshot")

    def sized(rev: int, retain: list, op_id: str, size: int) -> str:
        """An op frame of exactly ``size`` bytes, inserting x's after ``retain``."""
        empty = len(json.dumps(op_frame(rev, [*retain, ""], op_id)))
        return json.dumps(op_frame(rev, [*retain, "x" * (size - empty)], op_id))

    exactly = sized(0, [], "b-1", 1024)
    assert len(exactly.encode()) == 1024
    assert (await session.send(exactly)).status_code == 200  # at the limit: taken
    frames, last = await session.frames_until(lambda f: f["type"] == "ack", after=last)
    text = json.loads(exactly)["op"][0]
    over = sized(1, [len(text)], "b-2", 1025)
    assert len(over.encode()) == 1025
    assert (await session.send(over)).status_code == 200
    frames, _ = await session.frames_until(lambda f: f["type"] == "close", after=last)
    assert frames[-1]["code"] == 1009
    assert await aread_document("big") == (1, text)
