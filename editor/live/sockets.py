"""The socket writer: a frame's bytes built once, written to each client's socket.

An edit goes to every connection of its document on a process. Through
Channels and Daphne each copy would be encoded, framed by autobahn and
queued by Twisted on its own: that was about 45 µs of CPU per socket
(py-spy, human typing), paid 25 times per edit in a room of 50 on two
workers, more than the edit's commit. Here a frame's bytes are built once
(``wire.websocket.EncodedFrame``) and the editor's server (editor/server.py) offers each
connection a writer that sends them at once when Twisted holds nothing for
the socket, and otherwise queues them behind what it holds, so frames from
either path stay in order. Without that server (Channels' test
communicator, a plain ``daphne``) frames go through Channels' send.

Consumers know only ``ClientSocket``; this is the one module that knows
Twisted and autobahn (tests/live/test_sockets.py fails if an upgrade
removes what the writer relies on).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import ClassVar

from autobahn.exception import Disconnected
from twisted.internet import tcp

from editor.wire.websocket import EncodedFrame

# The ASGI scope extension (``scope["extensions"]``) by which the server
# offers a connection's writer: ``{"write": callable(bytes) -> bool}``.
WRITER_EXTENSION = "editor.frame_writer"


class ClientSocket:
    """One client's socket, as a consumer writes to it: through the server's writer if it
    offers one and the socket is open, else through Channels' send (``fallback``)."""

    __slots__ = ("_fallback", "_write")

    def __init__(self, scope: dict, fallback: Callable[..., Awaitable[None]]) -> None:
        self._write: Callable[[bytes], bool] | None = (
            scope.get("extensions", {}).get(WRITER_EXTENSION, {}).get("write")
        )
        self._fallback = fallback

    async def send(self, frame: EncodedFrame | str) -> None:
        if type(frame) is str:
            frame = EncodedFrame(frame)
        if self._write is None or not self._write(frame.wire):
            # The client may have closed the socket a moment ago (autobahn knows, Daphne not
            # yet): nothing to send to, and the consumer's disconnect follows.
            with contextlib.suppress(Disconnected):
                await self._fallback(text_data=frame.text)


class TwistedFrameWriter:
    """Writes whole frames to one of Daphne's WebSocket connections, in order with what Daphne
    writes to it."""

    # This process's frames: sent to the socket at once, or queued by Twisted
    # behind bytes it held (logged when the server stops).
    written: ClassVar[Counter[str]] = Counter()

    def __init__(self, protocol) -> None:
        self._protocol = protocol  # daphne.ws_protocol.WebSocketProtocol (autobahn's)
        # A plain TCP connection can be sent to directly when neither
        # autobahn nor Twisted holds anything for it; other transports
        # (TLS) are written to. The buffers are Twisted's own attributes.
        transport = protocol.transport
        self._direct = isinstance(transport, tcp.Connection) and all(
            hasattr(transport, name) for name in ("socket", "dataBuffer", "_tempDataBuffer")
        )

    def __call__(self, wire: bytes) -> bool:
        """Write the frame; False if the connection is not open (not yet accepted, closing, gone)."""
        protocol = self._protocol
        transport = protocol.transport
        if protocol.state != protocol.STATE_OPEN or transport.disconnecting:
            return False
        if self._direct and not (protocol.send_queue or transport.dataBuffer or transport._tempDataBuffer):
            try:
                sent = transport.socket.send(wire)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the connection is failing: Twisted's write finds out and closes it
            if sent == len(wire):
                self.written["at once"] += 1
                return True
            wire = wire[sent:]
        self.written["queued"] += 1
        transport.write(wire)
        return True


def offer_writer(scope: dict, protocol) -> None:
    """Give a WebSocket connection's scope its writer (called by the server for each one)."""
    scope.setdefault("extensions", {})[WRITER_EXTENSION] = {"write": TwistedFrameWriter(protocol)}
