"""A database cut while people type: nothing lost, no error, nobody closed, the bookkeeping caught up.

A real worker reaches the real PostgreSQL through a TCP proxy the test cuts
(every connection reset, new ones refused) for 5 s, as a network cut or a
database restart does.
"""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from editor.models import EditingSession
from tests.documents import aread_document
from tests.livetab import LiveTab, frames_until_closed
from tests.proxy import TcpProxy
from tests.servers import RedisServer, wait_until

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

CUT_SECONDS = 5


@pytest.fixture
async def database_proxy():
    database = settings.DATABASES["default"]
    proxy = await TcpProxy(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432)).start()
    yield proxy
    await proxy.stop()


async def refused_for_now(url: str, origin: str, headers=None) -> tuple[list[dict], int]:
    socket = await websockets.connect(url, origin=origin, additional_headers=headers or {})
    return await frames_until_closed(socket), socket.protocol.close_rcvd.code


async def test_a_5_s_database_cut_loses_no_edit_shows_no_error_and_closes_no_one(
    start_worker, database_proxy
):
    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER']}@127.0.0.1:{database_proxy.port}/{database['NAME']}"
    server = await asyncio.to_thread(
        start_worker,
        "cut",
        DATABASE_URL=url,
        EDITOR_HEARTBEAT_SECONDS="0.5",
        EDITOR_SESSION_TIMEOUT_SECONDS="5",
    )
    alice = LiveTab(server.ws_url, "outage", "alice")
    bob = LiveTab(server.ws_url, "outage", "bob")
    leaving = LiveTab(server.ws_url, "outage", "leaving")
    for tab in (alice, bob, leaving):
        await tab.connect()
    await alice.insert(0, "one ")
    await bob.wait_for(lambda: bob.text == "one ", what="the first edit")
    user = await User.objects.acreate_user("signed-in")
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}

    database_proxy.cut()
    await alice.insert(len(alice.text), "two ")
    await bob.insert(0, "three ")
    await leaving.close()  # its session's close cannot be written now
    ws_url, origin = f"{server.ws_url}/ws/docs/outage/", server.http_url
    for headers in (None, cookie):  # the consumer's connect, and the session lookup before it
        frames, code = await refused_for_now(ws_url, origin, headers)
        assert [(f["type"], f["code"]) for f in frames] == [("error", "unavailable")]
        assert code == 1013
    await asyncio.sleep(CUT_SECONDS)  # the outage itself, not a wait for something
    database_proxy.restore()

    for tab in (alice, bob):
        await tab.wait_synchronised(timeout=20)
    await alice.wait_for(lambda: alice.text == bob.text, what="the two to agree")
    _, text = await aread_document("outage")
    assert text == alice.text
    assert sorted(text.split()) == ["one", "three", "two"]
    for tab in (alice, bob):
        assert [f for f in tab.frames if f["type"] == "error"] == []
        assert [f["type"] for f in tab.frames].count("snapshot") == 1, "never closed, never reconnected"
    gone = leaving.frames[0]["session"]
    await sync_to_async(wait_until)(
        lambda: EditingSession.objects.filter(session_id=gone).exclude(disconnected_at=None).exists(),
        timeout=10,
        what="the close written during the cut to be recorded",
    )
    await alice.close()
    await bob.close()
    server.stop()
    log = server.log()
    assert "edits wait for it" in log
    assert "database back after" in log


@pytest.fixture
def private_redis(tmp_path):
    redis = RedisServer(tmp_path).start()
    yield redis
    redis.stop()


# channels-redis logs this, with a traceback, when the worker stops: its cleanup of a
# channel whose connection broke (the library's receive(), not the loop redis_layer.py replaces).
@pytest.mark.logs_errors("Unexpected exception while cleaning-up channel")
async def test_after_a_redis_restart_an_idle_client_gets_what_was_typed_meanwhile_at_once(
    start_worker, private_redis
):
    """Redis pub/sub loses what is published while it is away; the hubs notice it come back
    and tell their clients the head, which fetch what they missed (instead of at their next
    ping, 25 s later). Meanwhile the page is told others' edits may be late."""
    on_a = await asyncio.to_thread(start_worker, "a", REDIS_URL=private_redis.url)
    on_b = await asyncio.to_thread(start_worker, "b", REDIS_URL=private_redis.url)
    typist, idle = LiveTab(on_a.ws_url, "relay", "typist"), LiveTab(on_b.ws_url, "relay", "idle")
    await typist.connect()
    await idle.connect()
    await typist.insert(0, "before ")
    await idle.wait_for(lambda: idle.text == "before ", what="typing before the outage")
    await asyncio.to_thread(private_redis.stop)
    await idle.wait_for(lambda: {"type": "relay", "ok": False} in idle.frames, what="the page told")
    # A new connection meanwhile is told to come back later (not a 1011 and a traceback).
    frames, code = await refused_for_now(f"{on_b.ws_url}/ws/docs/relay-new/", on_b.http_url)
    assert ([(f["type"], f["code"]) for f in frames], code) == ([("error", "unavailable")], 1013)
    await typist.insert(len(typist.text), "during")
    await typist.wait_synchronised()  # committed: the database is there; its broadcast is lost
    await asyncio.to_thread(private_redis.start)
    restarted = time.monotonic()
    await idle.wait_for(lambda: idle.text == "before during", what="the edit made during the outage")
    print(f"Redis back -> idle client has the edit after {(time.monotonic() - restarted) * 1000:.0f} ms")
    assert time.monotonic() - restarted < 5, "not at the next 25 s ping"
    assert {"type": "relay", "ok": True} in idle.frames
    assert [f for f in typist.frames + idle.frames if f["type"] == "error"] == []
    await typist.close()
    await idle.close()


def readiness_of(server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{server.http_url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_worker_started_while_redis_is_away_is_not_ready_until_it_is_back(start_worker, tmp_path):
    """Its live parts cannot start (the hub's first calls need Redis): /readyz says so with a 503,
    not a 500 and a traceback, and the worker becomes ready when Redis answers."""
    redis = RedisServer(tmp_path)  # its port chosen, not started yet
    server = await asyncio.to_thread(start_worker, "early", REDIS_URL=redis.url)
    try:
        status, body = await asyncio.to_thread(readiness_of, server)
        assert status == 503
        assert body["checks"]["channel_layer"].startswith("not started: ")
        await asyncio.to_thread(redis.start)
        await asyncio.to_thread(
            wait_until, lambda: readiness_of(server)[0] == 200, timeout=10, what="ready once Redis is there"
        )
        tab = LiveTab(server.ws_url, "early", "first")
        await tab.connect()
        await tab.insert(0, "served")
        await tab.wait_synchronised()
        await tab.close()
    finally:
        await asyncio.to_thread(server.stop)  # while Redis is there to unsubscribe from
        redis.stop()
