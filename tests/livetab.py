"""A browser tab's behaviour over a real WebSocket, for multi-process tests.

Wraps ``editor.ot.client.ProtocolClient`` (the Python twin of the browser's
client.js) with a socket from the ``websockets`` library: it answers frames,
fetches gaps that stay open, reconnects and resumes when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import websockets

from editor import ot
from editor.ot.client import ProtocolClient

GAP_TIMEOUT = 0.5


class LiveTab:
    def __init__(self, server_url: str, slug: str, name: str) -> None:
        self.server_url = server_url  # ws://host:port
        self.slug = slug
        self.name = name
        self.client = ProtocolClient(id_prefix=name)
        self.socket: websockets.ClientConnection | None = None
        self.frames: list[dict] = []  # every frame received, for assertions
        self.sent_bases: dict[str, int] = {}  # op id -> revision it was last sent against
        self._reader: asyncio.Task | None = None
        self._gap_timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Condition()

    @property
    def text(self) -> str:
        return self.client.text

    async def connect(self, server_url: str | None = None) -> None:
        """Open a socket (to another server if given) and wait for the first frame."""
        if server_url:
            self.server_url = server_url
        url = f"{self.server_url}/ws/docs/{self.slug}/{self.client.resume_query()}"
        origin = self.server_url.replace("ws://", "http://")
        self.socket = await websockets.connect(url, origin=origin, max_size=2**22)
        self._reader = asyncio.create_task(self._read(self.socket))
        await self.wait_for(lambda: self.client.live, what="the first frame")

    async def _read(self, socket) -> None:
        try:
            async for message in socket:
                frame = json.loads(message)
                self.frames.extend(frame["frames"] if frame["type"] == "batch" else [frame])
                await self._send_all(self.client.receive(frame))
                if self.client.needs_reconnect:
                    asyncio.get_running_loop().create_task(self.reconnect())
                    return
                self._watch_gap()
                async with self._changed:
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        if self.socket is socket:
            self.client.disconnected()
        async with self._changed:
            self._changed.notify_all()

    def _watch_gap(self) -> None:
        """The browser's gap timer: a gap still open after a while is fetched."""
        if self.client.has_gap and self._gap_timer is None:
            loop = asyncio.get_running_loop()
            self._gap_timer = loop.call_later(GAP_TIMEOUT, lambda: loop.create_task(self._fetch_gap()))
        elif not self.client.has_gap and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    async def _fetch_gap(self) -> None:
        self._gap_timer = None
        if self.client.has_gap and self.client.live:
            await self._send_all([self.client.fetch_frame()])

    def acks(self) -> list[dict]:
        return [frame for frame in self.frames if frame["type"] == "ack"]

    async def _send_all(self, frames: list[dict]) -> None:
        for frame in frames:
            if frame["type"] == "op":
                self.sent_bases[frame["id"]] = frame["rev"]
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.socket.send(json.dumps(frame))

    async def edit(self, op: ot.Operation) -> None:
        """Type: apply locally at once, send when the protocol allows."""
        await self._send_all(self.client.local_edit(op))

    async def insert(self, position: int, text: str) -> None:
        length = len(self.client.text)
        await self.edit(ot.normalize([position, text, length - position]))

    async def send_raw(self, frame: dict | str) -> None:
        await self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def wait_for(self, predicate: Callable[[], bool], *, what: str, timeout: float = 10) -> None:
        """Wait until ``predicate`` holds, woken by every frame received."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not predicate():
                    if self._reader is not None and self._reader.done() and not self.client.live:
                        raise ConnectionError(f"{self.name}: socket closed while waiting for {what}")
                    await self._changed.wait()

    async def wait_synchronised(self, rev: int | None = None, timeout: float = 15) -> None:
        """Every edit acknowledged, no gap, and (if given) at revision ``rev``."""
        await self.wait_for(
            lambda: (
                self.client.state == "synchronised"
                and not self.client.has_gap
                and (rev is None or self.client.rev == rev)
            ),
            what=f"synchronised at {rev}",
            timeout=timeout,
        )

    async def drop(self) -> None:
        """Lose the connection (as when the network goes away)."""
        socket, self.socket = self.socket, None
        if socket is not None:
            await socket.close()
        if self._reader is not None:
            await self._reader
        self.client.disconnected()

    async def reconnect(self, server_url: str | None = None) -> None:
        await self.drop()
        await self.connect(server_url)

    async def close(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        await self.drop()


async def frames_until_closed(socket: websockets.ClientConnection) -> list[dict]:
    """Every frame a raw socket is sent until it closes (its close frame: ``socket.protocol.close_rcvd``)."""
    frames = []
    try:
        async for message in socket:
            frames.append(json.loads(message))
    except websockets.ConnectionClosed:
        pass
    return frames
