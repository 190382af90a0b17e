"""Simulated tabs for the load generator, one class per server under test.

Every client knows how to connect to a room, to type a keystroke (typists)
and to recognise a delivered keystroke in what it receives, returning the
keystroke's send time so the generator can measure latency. Send times are
``time.monotonic_ns()`` values, comparable across processes on one machine.

- ``EditorClient`` speaks this product's protocol (docs/protocol.md): a
  keystroke is an ``op`` frame; a typist keeps one op in flight and folds
  what it types meanwhile into the next one, as the browser does.
- ``FallbackEditorClient`` is the same tab over the fallback transport
  (docs/protocol.md): a session opened by POST, Server-Sent Events down, POSTs
  of frames up, one in flight, as the browser where WebSockets are blocked.
- ``SocketIOClient`` speaks raw Engine.IO 4 / Socket.IO 5 over a WebSocket
  to the tutorial's socket.io server (bench/reference/socketio-server.js).
- ``RawClient`` speaks plain JSON to the ``ws`` server (bench/reference/ws-server.js).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
import websockets

# A received frame: (when its oldest keystroke was typed in ns, receive time in ns, keystrokes in it).
Deliver = Callable[[int, int, int], None]


class BaseClient:
    def __init__(self, url: str, room: str, name: str, deliver: Deliver) -> None:
        self.url = url
        self.room = room
        self.name = name
        self.deliver = deliver
        self.socket: websockets.ClientConnection | None = None
        self.sent = 0  # messages sent (for the product: ops)
        self.keystrokes = 0
        self.errors = 0

    async def connect(self) -> None:
        raise NotImplementedError

    async def type(self) -> None:
        """One keystroke, stamped with the time it was typed."""
        raise NotImplementedError

    async def run(self) -> None:
        """Read until the socket closes."""
        try:
            async for message in self.socket:
                await self.on_message(message)
        except websockets.ConnectionClosed:
            pass

    async def on_message(self, message: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


class EditorClient(BaseClient):
    """A tab of this product: op frames, one in flight, the rest buffered."""

    async def connect(self) -> None:
        url = f"{self.url}/ws/docs/{self.room}/?name={quote(self.name)}"
        origin = self.url.replace("ws://", "http://", 1)
        self.socket = await websockets.connect(url, origin=origin, max_size=2**22, compression=None)
        self._start(json.loads(await self.socket.recv()))

    def _start(self, first: dict) -> None:
        if first.get("type") == "error":  # refused (docs/protocol.md): not a connected tab
            raise ConnectionRefusedError(f"{first.get('code')}: {first.get('message')}")
        self.rev = first["rev"]  # the last revision whose length we know
        self.length = len(first.get("text", ""))
        self.deltas: dict[int, int] = {}  # revision -> length change, for revisions after self.rev
        self.in_flight: str | None = None  # id of the op awaiting its ack
        self.in_flight_chars = 0
        self.buffered = 0  # keystrokes typed while an op is in flight
        self.buffered_since = 0  # when the oldest of them was typed

    async def type(self) -> None:
        self.keystrokes += 1
        if self.in_flight is not None:
            if not self.buffered:
                self.buffered_since = time.monotonic_ns()
            self.buffered += 1
            return
        await self._send(1, time.monotonic_ns())

    async def _send(self, chars: int, typed_at: int) -> None:
        self.sent += 1
        op_id = f"{self.name}:{self.sent}:{typed_at}"
        op = ["k" * chars, self.length] if self.length else ["k" * chars]
        self.in_flight, self.in_flight_chars = op_id, chars
        await self.send_frame(json.dumps({"type": "op", "rev": self.rev, "op": op, "id": op_id}))

    async def send_frame(self, text: str) -> None:
        await self.socket.send(text)

    def _advance(self) -> None:
        while self.rev + 1 in self.deltas:
            self.rev += 1
            self.length += self.deltas.pop(self.rev)

    async def on_message(self, message: str) -> None:
        frame = json.loads(message)
        for inner in frame["frames"] if frame["type"] == "batch" else [frame]:
            await self._on_frame(inner)

    async def _on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "op":
            now = time.monotonic_ns()
            op = frame["op"]
            inserted = sum(len(c) for c in op if isinstance(c, str))
            self.deltas[frame["rev"]] = inserted + sum(c for c in op if isinstance(c, int) and c < 0)
            self._advance()
            self.deliver(int(frame["id"].rsplit(":", 1)[1]), now, inserted)  # one keystroke, one character
        elif kind == "ack" and frame["id"] == self.in_flight:
            self.deltas[frame["rev"]] = self.in_flight_chars
            self._advance()
            self.in_flight = None
            if self.buffered:
                chars, self.buffered = self.buffered, 0
                await self._send(chars, self.buffered_since)
        elif kind == "error":
            self.errors += 1


class FallbackEditorClient(EditorClient):
    """The same tab where WebSockets are blocked: the fallback transport over httpx."""

    async def connect(self) -> None:
        base = self.url.replace("ws://", "http://", 1)
        self.http = httpx.AsyncClient(base_url=base, timeout=60)
        opened = await self.http.post(
            f"/fallback/docs/{self.room}/", params={"name": self.name}, headers={"Origin": base}
        )
        opened.raise_for_status()
        links = opened.json()
        self.frames_url, self.session_url = links["frames"], links["frames"].removesuffix("frames")
        self.seq, self.outbox, self.poster = 0, [], None
        self._stream = self.http.stream("GET", links["events"])
        response = await self._stream.__aenter__()
        self.socket = response
        self._events = self._frames(response.aiter_lines())
        self._start(json.loads(await anext(self._events)))

    @staticmethod
    async def _frames(lines):
        """The data of each message event (not ``ready``, not comments)."""
        event, data = "message", None
        async for line in lines:
            if not line:
                if event == "message" and data is not None:
                    yield data
                event, data = "message", None
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].removeprefix(" ")

    async def run(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            async for data in self._events:
                await self.on_message(data)

    async def send_frame(self, text: str) -> None:
        self.outbox.append(text)
        if self.poster is None or self.poster.done():
            self.poster = asyncio.ensure_future(self._post())

    async def _post(self) -> None:
        while self.outbox:
            frames, self.outbox = self.outbox, []
            answer = await self.http.post(self.frames_url, json={"seq": self.seq, "frames": frames})
            answer.raise_for_status()
            self.seq = answer.json()["next"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.http.delete(self.session_url)
            await self._stream.__aexit__(None, None, None)
        await self.http.aclose()


class SocketIOClient(BaseClient):
    """A socket.io 4 client over a raw WebSocket (Engine.IO 4 framing)."""

    async def connect(self) -> None:
        url = f"{self.url}/socket.io/?EIO=4&transport=websocket&room={quote(self.room)}"
        self.socket = await websockets.connect(url, max_size=2**22, compression=None)
        opening = await self.socket.recv()
        assert opening.startswith("0"), opening
        await self.socket.send("40")
        while not (await self.socket.recv()).startswith("40"):
            pass

    async def type(self) -> None:
        self.keystrokes += 1
        self.sent += 1
        payload = {"id": f"{self.name}:{self.sent}", "t": time.monotonic_ns()}
        await self.socket.send("42" + json.dumps(["key", payload]))

    async def on_message(self, message: str) -> None:
        if message.startswith("42"):
            now = time.monotonic_ns()
            _, payload = json.loads(message[2:])
            self.deliver(payload["t"], now, 1)
        elif message == "2":
            await self.socket.send("3")


class RawClient(BaseClient):
    """A client of the plain ``ws`` relay: JSON text frames both ways."""

    async def connect(self) -> None:
        self.socket = await websockets.connect(
            f"{self.url}/?room={quote(self.room)}", max_size=2**22, compression=None
        )

    async def type(self) -> None:
        self.keystrokes += 1
        self.sent += 1
        await self.socket.send(json.dumps({"id": f"{self.name}:{self.sent}", "t": time.monotonic_ns()}))

    async def on_message(self, message: str) -> None:
        now = time.monotonic_ns()
        self.deliver(json.loads(message)["t"], now, 1)


CLIENTS = {
    "editor": EditorClient,
    "editor-fallback": FallbackEditorClient,
    "socketio": SocketIOClient,
    "ws": RawClient,
}
