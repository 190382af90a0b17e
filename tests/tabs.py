"""In-process WebSocket clients for consumer tests (channels.testing.WebsocketCommunicator)."""

import json

from channels.testing import WebsocketCommunicator

from realtime_site.asgi import application

# A tab of the page on http://localhost, as a browser opens it: its Host and its Origin.
HOST = (b"host", b"localhost")
ORIGIN = (b"origin", b"http://localhost")
TIMEOUT = 3


class Tab:
    """One connected client, with helpers that speak the protocol."""

    def __init__(self, path: str, headers=None) -> None:
        headers = headers or [ORIGIN]
        if not any(name == b"host" for name, _ in headers):
            headers = [HOST, *headers]
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        self.communicator.scope["client"] = ("127.0.0.1", 50000)
        self.received: list[dict] = []  # every frame, in order
        self._unread: list[dict] = []

    async def open(self) -> dict:
        connected, _ = await self.communicator.connect(timeout=TIMEOUT)
        assert connected
        return await self.receive()

    async def send(self, frame) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self) -> dict:
        """The next frame; the frames of a ``batch`` come one by one, as clients handle them."""
        if not self._unread:
            frame = json.loads(await self.communicator.receive_from(timeout=TIMEOUT))
            self._unread.extend(frame["frames"] if frame["type"] == "batch" else [frame])
        frame = self._unread.pop(0)
        self.received.append(frame)
        return frame

    async def receive_type(self, kind: str) -> dict:
        """The next frame of this type; presence updates may come in between."""
        while True:
            frame = await self.receive()
            if frame["type"] == kind:
                return frame

    async def receive_until(self, last) -> list[dict]:
        """Every frame up to and including the first for which ``last(frame)`` is true.

        To assert that something did not arrive, make something that must come after it
        happen, and read up to that: no quiet window to guess.
        """
        frames = []
        while not frames or not last(frames[-1]):
            frames.append(await self.receive())
        return frames

    async def close(self) -> None:
        await self.communicator.disconnect()


def append(length: int, text: str) -> list:
    """The operation that appends ``text`` to a document of ``length`` characters."""
    return [length, text] if length else [text]


async def open_tab(slug: str = "doc", query: str = "") -> tuple[Tab, dict]:
    tab = Tab(f"/ws/docs/{slug}/{query}")
    return tab, await tab.open()
