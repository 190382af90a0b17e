"""Safe on the open web (docs/security.md): every limit at exactly its value and one past it,
what a client over it is told, and no ghost sessions.

In process, through the shipped consumer: rates are set so that no token comes back during
a test, so "the burst, then one more" is exact and needs no clock.
"""

import asyncio
import contextlib
import json
import re
import time

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from editor.live import worker
from editor.live.limits import ConnectionCounts, Rate, Rates, TokenBucket
from editor.live.sockets import WRITER_EXTENSION, InboundQueue
from editor.models import EditingSession
from editor.ot.client import ProtocolClient
from tests.documents import aread_document
from tests.servers import wait_until
from tests.tabs import ORIGIN, Tab, append, open_tab

pytestmark = pytest.mark.django_db(transaction=True)

NEVER = 1e-9  # tokens a second: none come back while a test runs
PLENTY = Rate(1000, 1000)


def rates(**bursts: int) -> Rates:
    """Generous limits except the kinds named, which allow exactly that many frames."""
    return with_rates(**{kind: Rate(NEVER, burst) for kind, burst in bursts.items()})


def with_rates(**changed: Rate) -> Rates:
    generous = {"frames": PLENTY, "edits": PLENTY, "presence": PLENTY, "fetches": PLENTY}
    return Rates(**{**generous, "strikes": Rate(NEVER, 1000), **changed})


# In process there is no frame writer: the consumer closes through ASGI, where 1008 becomes
# 4008 (live/sockets.py); over real sockets it is 1008 (the multiprocess tests below).
POLICY_VIOLATION_WITHOUT_WRITER = 4008


async def closed_with(tab: Tab) -> int:
    """The close code the consumer sent, after any frames still unread."""
    while True:
        message = await tab.communicator.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return message["code"]


def edit(rev: int, length: int, text: str, op_id: str) -> dict:
    return {"type": "op", "rev": rev, "op": append(length, text), "id": op_id}


# The limits themselves (live/limits.py).


def test_a_bucket_gives_its_burst_then_says_when_the_next_token_comes():
    now = [0.0]
    bucket = TokenBucket(10, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.1)
    now[0] = 0.099
    assert bucket.take() == pytest.approx(0.001)
    now[0] = 0.1
    assert bucket.take() == 0.0
    now[0] = 100.0  # saved up, but no more than the burst
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.1)]


def test_connection_counts_admit_up_to_the_limit_and_forget_released_keys():
    counts = ConnectionCounts()
    assert [counts.admit("a", limit=2) for _ in range(3)] == [True, True, False]
    counts.release("a")
    assert counts.admit("a", limit=2)
    counts.release("a")
    counts.release("a")
    assert counts["a"] == 0
    assert "a" not in counts._open


# Each kind of frame, at its burst and one past it.


async def test_edits_up_to_the_burst_are_acknowledged_and_the_next_is_dropped_with_its_id(settings):
    settings.EDITOR_RATES = rates(edits=3)
    tab, _ = await open_tab()
    for rev in range(3):
        await tab.send(edit(rev, rev, "x", f"e{rev}"))
        assert (await tab.receive_type("ack"))["rev"] == rev + 1
    await tab.send(edit(3, 3, "y", "e3"))
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("rate-limited", "e3")
    assert type(error["retry_after"]) is int
    assert error["retry_after"] > 0
    await tab.send({"type": "ping"})
    assert (await tab.receive_type("pong"))["rev"] == 3, "the connection stays usable"
    assert await aread_document("doc") == (3, "xxx")
    await tab.close()


async def test_the_retry_hint_is_when_the_next_token_comes(settings):
    """At 10 edits a second with nothing saved up, the next edit may come in 100 ms at most."""
    settings.EDITOR_RATES = with_rates(edits=Rate(10, 1))
    tab, _ = await open_tab()
    await tab.send(edit(0, 0, "x", "first"))
    await tab.receive_type("ack")
    await tab.send(edit(1, 1, "y", "second"))
    error = await tab.receive_type("error")
    assert error["code"] == "rate-limited"
    assert 1 <= error["retry_after"] <= 100
    await tab.close()


async def test_carets_and_renames_share_the_presence_limit(settings):
    settings.EDITOR_RATES = rates(presence=2)
    tab, _ = await open_tab()
    await tab.send({"type": "caret", "rev": 0, "caret": [0, 0]})
    await tab.send({"type": "rename", "name": "Ada"})
    await tab.send({"type": "ping"})
    answered = await tab.receive_until(lambda frame: frame["type"] == "pong")
    assert not [frame for frame in answered if frame["type"] == "error"]
    await tab.send({"type": "caret", "rev": 0, "caret": [0, 0]})
    error = await tab.receive_type("error")
    assert error["code"] == "rate-limited"
    assert "id" not in error
    await tab.close()


async def test_fetches_and_pings_share_the_fetch_limit(settings):
    settings.EDITOR_RATES = rates(fetches=2)
    tab, _ = await open_tab()
    await tab.send({"type": "fetch", "rev": 0})
    await tab.send({"type": "ping"})
    assert (await tab.receive_type("pong"))["rev"] == 0
    await tab.send({"type": "fetch", "rev": 0})
    assert (await tab.receive_type("error"))["code"] == "rate-limited"
    await tab.close()


async def test_malformed_frames_count_against_every_frames_limit(settings):
    settings.EDITOR_RATES = rates(frames=3)
    tab, _ = await open_tab()
    for garbage in ("not json", "[]", '{"type": "op"}'):
        await tab.send(garbage)
        assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.send("not json")
    assert (await tab.receive_type("error"))["code"] == "rate-limited"
    await tab.close()


async def test_a_client_that_keeps_going_after_being_told_is_closed_with_1008_after_its_strikes(settings):
    settings.EDITOR_RATES = with_rates(edits=Rate(NEVER, 1), strikes=Rate(NEVER, 2))
    tab, _ = await open_tab()
    watcher, _ = await open_tab()
    await tab.send(edit(0, 0, "x", "ok"))
    await tab.receive_type("ack")
    for n in range(2):
        await tab.send(edit(1, 1, "y", f"over{n}"))
        error = await tab.receive_type("error")
        assert (error["code"], error["id"], "retry_after" in error) == ("rate-limited", f"over{n}", True)
    await tab.send(edit(1, 1, "y", "last-straw"))
    final = await tab.receive_type("error")
    assert (final["code"], final["id"]) == ("rate-limited", "last-straw")
    assert "retry_after" not in final, "no retry: the connection closes"
    assert await closed_with(tab) == POLICY_VIOLATION_WITHOUT_WRITER
    await tab.send(edit(1, 1, "z", "after the close"))  # read by nobody
    await tab.close()
    assert (await watcher.receive_type("leave"))["session"] == tab.received[0]["session"]
    assert await aread_document("doc") == (1, "x")
    await watcher.close()


# Connections per client address and per signed-in user (this process's).


async def test_connections_from_one_address_up_to_the_limit_then_too_many_connections(settings):
    settings.EDITOR_MAX_CONNECTIONS_PER_ADDRESS = 2
    first, _ = await open_tab("a")
    second, _ = await open_tab("b")
    third = Tab("/ws/docs/a/")
    error = await third.open()
    assert error["code"] == "too-many-connections"
    assert await closed_with(third) == POLICY_VIOLATION_WITHOUT_WRITER
    await third.close()
    assert await EditingSession.objects.filter(document__slug="a").acount() == 1, "no session recorded"
    await second.close()
    again, snapshot = await open_tab("a")
    assert snapshot["type"] == "snapshot", "a closed connection frees its place"
    for tab in (first, again):
        await tab.close()


async def test_a_signed_in_user_is_counted_as_themselves_not_by_address(settings):
    settings.EDITOR_MAX_CONNECTIONS_PER_ADDRESS = 1
    settings.EDITOR_MAX_CONNECTIONS_PER_USER = 2
    user = await User.objects.acreate_user("grace", password="x" * 12)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())
    anonymous, _ = await open_tab()
    tabs = [Tab("/ws/docs/doc/", headers=[ORIGIN, cookie]) for _ in range(3)]
    assert [(await tab.open())["type"] for tab in tabs] == ["snapshot", "snapshot", "error"]
    assert tabs[2].received[0]["code"] == "too-many-connections"
    for tab in [anonymous, *tabs]:
        await tab.close()


# Catch-up: a client too far behind gets the text instead of the operations.


async def _document_with_revisions(count: int) -> Tab:
    tab, _ = await open_tab()
    for rev in range(count):
        await tab.send(edit(rev, rev, "x", f"e{rev}"))
        await tab.receive_type("ack")
    return tab


async def test_a_fetch_up_to_max_catch_up_ops_behind_gets_operations_and_one_more_gets_the_text(settings):
    settings.EDITOR_MAX_CATCH_UP_OPS = 3
    tab = await _document_with_revisions(4)
    await tab.send({"type": "fetch", "rev": 1})
    frames = await tab.receive_until(lambda frame: frame["type"] == "op" and frame["rev"] == 4)
    assert [frame["rev"] for frame in frames if frame["type"] == "op"] == [2, 3, 4]
    await tab.send({"type": "fetch", "rev": 0})
    snapshot = await tab.receive_type("snapshot")
    assert (snapshot["rev"], snapshot["text"]) == (4, "xxxx")
    await tab.close()


async def test_a_resume_up_to_max_catch_up_ops_behind_is_a_resume_and_one_more_a_snapshot(settings):
    settings.EDITOR_MAX_CATCH_UP_OPS = 3
    writer = await _document_with_revisions(4)
    near, near_first = await open_tab(query="?rev=1")
    far, far_first = await open_tab(query="?rev=0")
    assert (near_first["type"], far_first["type"]) == ("resume", "snapshot")
    assert (far_first["rev"], far_first["text"]) == (4, "xxxx")
    for tab in (writer, near, far):
        await tab.close()


# No ghost sessions.


async def test_a_consumer_killed_before_its_disconnect_leaves_like_a_clean_close():
    """Daphne cancels a consumer still busy 10 s after its socket closed (FIELD-NOTES 13)."""
    tab, first = await open_tab()
    watcher, _ = await open_tab()
    tab.communicator.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tab.communicator.future
    assert await watcher.receive_type("leave") == {"type": "leave", "session": first["session"]}
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.disconnected_at is not None
    assert first["session"] not in (await worker.current()).liveness.sessions
    again, snapshot = await open_tab()
    assert snapshot["people"] == 2, "the newcomer and the watcher, not the killed one"
    for other in (watcher, again):
        await other.close()


async def test_a_session_whose_socket_is_gone_is_closed_by_the_next_heartbeat():
    """The socket closed while its consumer is still busy: not vouched for again, closed at once."""
    gone = False
    tab = Tab("/ws/docs/doc/")
    tab.communicator.scope["extensions"] = {
        WRITER_EXTENSION: {"write": lambda wire: False, "closed": lambda: gone}
    }
    first = await tab.open()
    watcher, _ = await open_tab()
    liveness = (await worker.current()).liveness
    assert await liveness.check() == []
    gone = True
    closed = await liveness.check()
    assert [session.session_id for session in closed] == [first["session"]]
    assert first["session"] not in liveness.sessions
    assert await watcher.receive_type("leave") == {"type": "leave", "session": first["session"]}
    assert (await EditingSession.objects.aget(session_id=first["session"])).disconnected_at is not None
    await tab.close()
    await watcher.close()


# Backpressure: a connection's frames waiting for its consumer are bounded (live/sockets.py).


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")


async def test_the_inbound_queue_stops_reading_at_its_bound_and_reads_again_at_half():
    transport = FakeTransport()
    queue = InboundQueue(transport, high=4)
    for n in range(3):
        queue.put_nowait(n)
    assert transport.calls == []
    queue.put_nowait(3)
    assert transport.calls == ["pause"], "at exactly the bound"
    queue.put_nowait(4)  # what the last read still held
    assert [await queue.get() for _ in range(2)] == [0, 1]
    assert transport.calls == ["pause"], "three still waiting, over half"
    assert await queue.get() == 2
    assert transport.calls == ["pause", "resume"], "two waiting: half the bound"
    assert [await queue.get() for _ in range(2)] == [3, 4]
    assert transport.calls == ["pause", "resume"]


# A flood against a real worker, beside a typist on the same document and worker.


async def _flood(url: str, origin: str, frames: int) -> dict:
    """Send edits as fast as the socket takes them, never reading; what became of it."""
    async with websockets.connect(url, origin=origin, max_queue=None) as socket:
        snapshot = json.loads(await socket.recv())
        op = append(len(snapshot["text"]), "f")
        started = time.monotonic()
        with contextlib.suppress(websockets.ConnectionClosed):
            for n in range(frames):
                await socket.send(
                    # Valid on the revision it saw, whatever the typist typed before.
                    json.dumps({"type": "op", "rev": snapshot["rev"], "op": op, "id": f"f{n}"})
                )
            async for _ in socket:
                pass
        return {
            "session": snapshot["session"],
            "close": socket.protocol.close_rcvd and socket.protocol.close_rcvd.code,
            "seconds": time.monotonic() - started,
        }


@pytest.mark.multiprocess
async def test_a_flooder_is_closed_with_1008_leaves_no_ghost_and_a_typist_beside_it_is_served(start_worker):
    server = start_worker("flooded")
    url, origin = f"{server.ws_url}/ws/docs/flooded/", server.http_url
    async with websockets.connect(url, origin=origin) as socket:
        typist = ProtocolClient()
        typist.receive(json.loads(await socket.recv()))
        flood = asyncio.ensure_future(_flood(url, origin, 20_000))
        errors = []
        for _ in range(5):  # keystrokes, each sent once the one before is acknowledged
            for frame in typist.local_edit(append(len(typist.text), "t")):
                await socket.send(json.dumps(frame))
            while typist.outstanding is not None:
                got = json.loads(await asyncio.wait_for(socket.recv(), 10))
                errors += [f for f in got.get("frames", [got]) if f["type"] == "error"]
                for frame in typist.receive(got):
                    await socket.send(json.dumps(frame))
        result = await asyncio.wait_for(flood, 30)
    assert errors == []
    # The server closes with 1008 (the log line below), and the close frame is usually seen;
    # in about one run in three the flooder sees its TCP connection end without it (a race
    # between its own sending and the close handshake, not yet understood: issue 11's note).
    assert result["close"] in (1008, None), result
    await sync_to_async(wait_until)(
        lambda: EditingSession.objects.filter(
            session_id=result["session"], disconnected_at__isnull=False
        ).exists(),
        timeout=10,
        what="the flooder's session to be closed",
    )
    _, text = await aread_document("flooded")
    assert text.count("t") == 5
    # The burst of edits, and what the rate gave back while the flood lasted.
    rates = settings.EDITOR_RATES.edits
    assert 0 < text.count("f") <= rates.burst + rates.per_second * result["seconds"] + 1
    server.stop()
    log = server.log()
    assert "over its limits after being told to slow down" in log
    assert int(re.search(r"inbound backpressure: (\d+) socket reads paused", log).group(1)) > 0


@pytest.mark.multiprocess
async def test_a_connection_over_the_address_limit_is_told_and_closed_with_a_1008_close_frame(start_worker):
    """Over real handshakes: the 1008 goes out through the frame writer (autobahn's own close
    refuses codes below 3000), and a place freed is taken again."""
    server = start_worker("crowded", EDITOR_MAX_CONNECTIONS_PER_ADDRESS="2")
    url, origin = f"{server.ws_url}/ws/docs/crowded/", server.http_url
    first = await websockets.connect(url, origin=origin)
    second = await websockets.connect(url, origin=origin)
    for socket in (first, second):
        assert json.loads(await socket.recv())["type"] == "snapshot"
    async with websockets.connect(url, origin=origin) as third:
        error = json.loads(await third.recv())
        assert error["code"] == "too-many-connections"
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in third:
                pass
        assert third.protocol.close_rcvd is not None
        assert third.protocol.close_rcvd.code == 1008
    await first.close()
    await first.wait_closed()

    async def admitted() -> bool:
        async with websockets.connect(url, origin=origin) as again:
            return json.loads(await again.recv())["type"] == "snapshot"

    # The first's disconnect runs on the worker after its close handshake: poll until its place is free.
    for _ in range(50):
        if await admitted():
            break
    else:
        pytest.fail("the closed connection's place was never freed")
    await second.close()


async def test_an_edit_over_every_frames_limit_is_refused_before_parsing_and_named_by_its_id(settings):
    settings.EDITOR_RATES = rates(frames=2)
    tab, _ = await open_tab()
    await tab.send(edit(0, 0, "x", "e0"))
    await tab.receive_type("ack")
    await tab.send(edit(1, 1, "y", "e1"))
    await tab.send(edit(1, 1, "y", "e1"))  # the third frame: over
    assert (await tab.receive_type("ack"))["id"] == "e1"
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("rate-limited", "e1")
    await tab.close()


async def test_a_connection_without_a_peer_address_is_not_counted_by_address(settings):
    """A Unix-socket endpoint gives no client address: one counter for all would refuse everyone."""
    settings.EDITOR_MAX_CONNECTIONS_PER_ADDRESS = 1
    tabs = [Tab("/ws/docs/doc/") for _ in range(2)]
    for tab in tabs:
        tab.communicator.scope["client"] = None
    assert [(await tab.open())["type"] for tab in tabs] == ["snapshot", "snapshot"]
    for tab in tabs:
        await tab.close()
