"""A worker told to stop (SIGTERM, what `docker stop` and a rolling deploy send) stops gracefully.

Real workers: every socket is closed with 1012 and no error, edits in flight
commit, sessions are recorded closed, the process exits soon; a client comes
back at once on another worker and loses nothing.
"""

import asyncio
import json
import signal
import time

import pytest
import websockets
from asgiref.sync import sync_to_async

from editor.models import EditingSession
from tests.documents import aread_document
from tests.livetab import LiveTab, frames_until_closed
from tests.servers import wait_until

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


async def test_sigterm_closes_every_socket_with_1012_and_records_the_sessions_closed(
    start_worker,
):
    server = start_worker("stopping")
    url, origin = f"{server.ws_url}/ws/docs/draining/", server.http_url
    sockets = [await websockets.connect(url, origin=origin) for _ in range(3)]
    firsts = [json.loads(await socket.recv()) for socket in sockets]
    typist = sockets[0]
    await typist.send(json.dumps({"type": "op", "rev": 0, "op": ["a"], "id": "t1"}))
    while json.loads(await typist.recv()).get("type") != "ack":
        pass
    # (An edit sent as the signal goes is committed or dropped unread, unacknowledged either
    # way: its client resumes elsewhere and is told which; the next test covers that.)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    received = await asyncio.gather(*(frames_until_closed(socket) for socket in sockets))
    closed_after = time.monotonic() - signalled
    await asyncio.to_thread(server.process.wait, 15)
    exited_after = time.monotonic() - signalled
    print(f"SIGTERM: sockets closed after {closed_after * 1000:.0f} ms, exited after {exited_after:.1f} s")
    for socket, frames in zip(sockets, received, strict=True):
        assert socket.protocol.close_rcvd is not None, "a close frame, not a dropped connection"
        assert socket.protocol.close_rcvd.code == 1012
        assert [f for f in frames if f["type"] == "error"] == []
    assert server.process.returncode == 0
    assert exited_after < 5 + 2  # EDITOR_SHUTDOWN_SECONDS in the tests' environment, and the exit
    assert await aread_document("draining") == (1, "a")
    sessions = EditingSession.objects.filter(session_id__in=[f["session"] for f in firsts])
    assert await sessions.filter(disconnected_at=None).acount() == 0
    assert await sessions.acount() == 3
    log = server.log()
    assert "SIGTERM: shutting down gracefully" in log
    assert "closing 3 connections for a restart" in log


async def test_a_client_of_a_stopped_worker_resumes_on_another_and_loses_nothing(start_worker):
    stopping, staying = start_worker("stopping"), start_worker("staying")
    tab = LiveTab(stopping.ws_url, "moving", "mover")
    watcher = LiveTab(staying.ws_url, "moving", "watcher")
    await tab.connect()
    await watcher.connect()
    await tab.insert(0, "before ")  # in flight as the signal goes: committed once, whichever way
    stopping.process.send_signal(signal.SIGTERM)
    await tab.wait_for(lambda: not tab.client.live, what="the socket to close")
    assert tab.socket.protocol.close_rcvd.code == 1012
    await tab.insert(len(tab.text), "offline ")  # typed while away
    await tab.connect(staying.ws_url)
    await tab.insert(len(tab.text), "after")
    await watcher.wait_for(
        lambda: watcher.text == "before offline after", what="everything on the other worker"
    )
    await tab.wait_for(lambda: tab.text == watcher.text and tab.client.outstanding is None, what="the acks")
    assert (await aread_document("moving"))[1] == "before offline after"
    assert not [f for f in tab.frames + watcher.frames if f["type"] == "error"]
    await asyncio.to_thread(stopping.process.wait, 15)
    await tab.close()
    await watcher.close()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_a_worker_is_live_and_ready_over_http(start_worker, path):
    import urllib.request

    server = start_worker("ready")

    def get() -> tuple[int, dict]:
        with urllib.request.urlopen(f"{server.http_url}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())

    status, body = await asyncio.to_thread(get)
    assert status == 200
    if path == "/readyz":
        assert body["checks"] == {"accepting": "ok", "database": "ok", "channel_layer": "ok"}


async def test_liveness_runs_from_the_workers_start_without_any_connection(start_worker, worker_env):
    """A worker with no connection still expires the sessions a dead one left (issue 13)."""
    from editor.models import Document

    document = await Document.objects.acreate(slug="left")
    await EditingSession.objects.acreate(
        document=document, session_id="ghost", worker="gone:1", last_seen="2000-01-01T00:00:00Z"
    )
    start_worker("idle", EDITOR_HEARTBEAT_SECONDS="0.2", EDITOR_SESSION_TIMEOUT_SECONDS="1")
    await sync_to_async(wait_until)(
        lambda: EditingSession.objects.filter(session_id="ghost").exclude(disconnected_at=None).exists(),
        timeout=10,
        what="the idle worker to expire the ghost",
    )
