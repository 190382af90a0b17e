"""Frames built once for many sockets, written by the editor's server (live/sockets.py, server.py)."""

import asyncio
import inspect
import json
import re
import socket

import pytest
import websockets
from autobahn.exception import Disconnected
from autobahn.websocket.protocol import WebSocketProtocol
from daphne.server import Server
from twisted.internet.interfaces import ISSLTransport
from websockets.frames import Frame as WebSocketFrame
from websockets.frames import Opcode
from zope.interface import directlyProvides

from editor import ot
from editor.live.sockets import WRITER_EXTENSION, ClientSocket, offer_writer
from editor.wire.websocket import EncodedFrame, text_frame
from tests.livetab import LiveTab


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_is_what_the_websockets_library_makes_of_the_same_message(length):
    """Each of the three length encodings, at its bounds."""
    payload = b"x" * length
    assert text_frame(payload) == WebSocketFrame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_a_frame_is_encoded_once_however_many_sockets_it_goes_to():
    frame = EncodedFrame("héllo 😀")
    assert frame.wire is frame.wire
    assert frame.wire == text_frame("héllo 😀".encode())


async def _slow_reader(worker, slug: str) -> websockets.ClientConnection:
    """A tab with a tiny receive buffer whose frames nobody reads until the test says so."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", worker.port))
    return await websockets.connect(
        f"{worker.ws_url}/ws/docs/{slug}/",
        sock=raw,
        origin=worker.http_url,
        max_size=2**22,
        max_queue=1,  # the library stops reading the socket once one frame waits
        compression=None,
    )


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_a_tab_that_falls_behind_gets_every_frame_whole_and_in_order(start_worker):
    """Megabytes of broadcasts to a tab that does not read: the socket's buffers fill, the
    writer queues the rest behind what the socket took, and nothing is lost or reordered."""
    worker = start_worker()
    reader = await _slow_reader(worker, "flood")
    snapshot = json.loads(await reader.recv())
    typist = LiveTab(worker.ws_url, "flood", "typist")
    await typist.connect()
    chunk = "abcdefghij" * 20_000  # 200,000 characters an insert: 8 MB of broadcasts in all
    for _ in range(40):
        await typist.insert(0, chunk)
        await typist.wait_synchronised()
        await typist.edit([-len(chunk)])
        await typist.wait_synchronised()
    await typist.insert(0, "done")
    await typist.wait_synchronised()
    final_rev = typist.client.rev

    text, rev = snapshot["text"], snapshot["rev"]
    while rev < final_rev:
        frame = json.loads(await asyncio.wait_for(reader.recv(), timeout=30))
        for inner in frame["frames"] if frame["type"] == "batch" else [frame]:
            if inner["type"] == "op":
                assert inner["rev"] == rev + 1, "a revision came out of order or went missing"
                text, rev = ot.apply(text, inner["op"]), inner["rev"]
    assert text == typist.text == "done"
    await reader.close()
    await typist.close()
    worker.stop()
    at_once, queued = frames_written(worker)
    assert at_once > 0, "nothing was sent straight to a socket"
    assert queued > 0, "the socket's buffers never filled: nothing was queued behind them"


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_runserver_and_the_workers_send_through_the_frame_writer(runserver, start_worker):
    """Development and production take the same path to the sockets."""
    for server in (runserver, start_worker()):
        tab = LiveTab(server.ws_url, "default", "tab")
        await tab.connect()  # its first frame, the snapshot, goes through the writer
        await tab.close()
        server.stop()
        assert frames_written(server)[0] >= 1


def frames_written(server) -> tuple[int, int]:
    """(sent at once, queued) as the stopped server logged them."""
    match = re.search(r"frame writer: (\d+) frames sent at once, (\d+) queued", server.log())
    assert match, f"{server.name} did not log what its frame writer sent"
    return int(match.group(1)), int(match.group(2))


async def test_a_frame_for_a_socket_the_client_just_closed_is_dropped_quietly():
    """Closed in autobahn but not yet in Daphne: Channels' send raises Disconnected, which is no error."""
    sent = []

    async def closed(text_data):
        sent.append(text_data)
        raise Disconnected("Attempt to send on a closed protocol")

    socket = ClientSocket(
        {"extensions": {WRITER_EXTENSION: {"write": lambda wire: False}}},
        fallback=closed,
        fallback_close=None,
    )
    await socket.send('{"type":"pong","rev":1}')
    assert sent == ['{"type":"pong","rev":1}']  # the writer said not open: Channels' send was tried


async def test_frames_go_through_the_writer_when_the_socket_is_open():
    written, sent = [], []

    def write(wire: bytes) -> bool:
        written.append(wire)
        return True

    async def fallback(text_data):
        sent.append(text_data)

    socket = ClientSocket(
        {"extensions": {WRITER_EXTENSION: {"write": write}}}, fallback=fallback, fallback_close=None
    )
    await socket.send(EncodedFrame("{}"))
    assert (written, sent) == ([text_frame(b"{}")], [])


def test_what_the_server_takes_from_daphne_and_autobahn_is_still_there():
    """editor/server.py copies Daphne's create_application to bound the queue, and the writer
    closes with autobahn's sendCloseFrame and sets its per-connection limits: an upgrade that
    changes them fails here, not in production."""
    source = inspect.getsource(Server.create_application)
    for line in ("input_queue = asyncio.Queue()", "receive=input_queue.get", "return input_queue"):
        assert line in source
    assert "isReply" in inspect.signature(WebSocketProtocol.sendCloseFrame).parameters
    for option in ("failByDrop", "maxMessagePayloadSize", "maxFramePayloadSize"):
        assert option in WebSocketProtocol.CONFIG_ATTRS_COMMON


async def test_a_close_goes_through_the_writer_when_the_server_offers_one():
    """Autobahn's sendClose (ASGI's close) refuses 1008; the writer's close sends it."""
    closes, fallback_closes = [], []

    async def fallback_close(code):
        fallback_closes.append(code)

    offered = ClientSocket({"extensions": {WRITER_EXTENSION: {"close": closes.append}}}, None, fallback_close)
    await offered.close(1008)
    plain = ClientSocket({}, None, fallback_close)
    await plain.close(1008)
    assert (closes, fallback_closes) == ([1008], [4008])


class _Transport:
    pass


@pytest.mark.parametrize(("tls", "scheme"), [(True, "wss"), (False, "ws")])
def test_the_writer_gives_the_scope_its_scheme_which_daphne_leaves_out(tls, scheme):
    """The handshake's origin check (editor/handshakes.py) needs it: a wss page's origin is https."""
    transport = _Transport()
    if tls:
        directlyProvides(transport, ISSLTransport)
    protocol = type("Protocol", (), {"transport": transport})()
    scope = {}
    offer_writer(scope, protocol)
    assert scope["scheme"] == scheme


async def test_without_the_writer_an_rfc_close_code_becomes_its_application_twin():
    """ASGI's close goes through autobahn's sendClose, which raises on 1008: 4008 instead."""
    codes = []

    async def fallback_close(code):
        codes.append(code)

    plain = ClientSocket({}, None, fallback_close)
    for code in (1008, 1000, 4001):
        await plain.close(code)
    assert codes == [4008, 1000, 4001]
