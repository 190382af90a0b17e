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

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import ClassVar

from autobahn.exception import Disconnected
from twisted.internet import tcp
from twisted.internet.interfaces import ISSLTransport

from editor.wire.websocket import EncodedFrame

# The ASGI scope extension (``scope["extensions"]``) by which the server
# offers a connection's writer: ``{"write": callable(bytes) -> bool,
# "closed": callable() -> bool, "close": callable(int)}``.
WRITER_EXTENSION = "editor.frame_writer"


class ClientSocket:
    """One client's socket, as a consumer writes to it: through the server's writer if it
    offers one and the socket is open, else through Channels' send (``fallback``)."""

    __slots__ = ("_close", "_fallback", "_fallback_close", "_write", "closed")

    def __init__(
        self,
        scope: dict,
        fallback: Callable[..., Awaitable[None]],
        fallback_close: Callable[..., Awaitable[None]],
    ) -> None:
        writer = scope.get("extensions", {}).get(WRITER_EXTENSION, {})
        self._write: Callable[[bytes], bool] | None = writer.get("write")
        self._close: Callable[[int], None] | None = writer.get("close")
        self._fallback = fallback
        self._fallback_close = fallback_close
        # Whether the socket is gone, as the server knows it (before the
        # consumer hears of it); without the server's writer, never known.
        self.closed: Callable[[], bool] = writer.get("closed", _never)

    async def send(self, frame: EncodedFrame | str) -> None:
        if type(frame) is str:
            frame = EncodedFrame(frame)
        if self._write is None or not self._write(frame.wire):
            # The client may have closed the socket a moment ago (autobahn knows, Daphne not
            # yet): nothing to send to, and the consumer's disconnect follows.
            with contextlib.suppress(Disconnected):
                await self._fallback(text_data=frame.text)

    async def close(self, code: int) -> None:
        """Close with ``code``: through the server's writer, which can send RFC 6455's own codes
        (1008), where ASGI's close goes through autobahn's sendClose, which takes only 1000 and
        3000-4999."""
        if self._close is not None:
            self._close(code)
        else:
            # Without the writer, an RFC code autobahn refuses becomes its
            # application twin: 1008 -> 4008.
            await self._fallback_close(code=code if code == 1000 or code >= 3000 else 4000 + code % 1000)


def _never() -> bool:
    return False


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

    def close(self, code: int) -> None:
        """Start the closing handshake with ``code`` (once; later calls do nothing)."""
        protocol = self._protocol
        if protocol.state == protocol.STATE_OPEN:
            protocol.sendCloseFrame(code=code, isReply=False)

    def closed(self) -> bool:
        """The connection is gone (closed, or its TCP connection lost)."""
        protocol = self._protocol
        return protocol.state == protocol.STATE_CLOSED or not protocol.transport.connected

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
    """Give a WebSocket connection's scope its writer (called by the server for each one), and
    its scheme, which Daphne leaves out of WebSocket scopes: ``wss`` over TLS, else ``ws``."""
    scope.setdefault("scheme", "wss" if ISSLTransport.providedBy(protocol.transport) else "ws")
    writer = TwistedFrameWriter(protocol)
    scope.setdefault("extensions", {})[WRITER_EXTENSION] = {
        "write": writer,
        "closed": writer.closed,
        "close": writer.close,
    }


def set_limits(protocol, *, max_message_bytes: int) -> None:
    """A WebSocket connection's limits, set before its first frame.

    A message over ``max_message_bytes``, or a text frame that is not UTF-8,
    ends the connection with a close frame saying so (1009, 1007), where
    autobahn's default drops the TCP connection and the client sees 1006.
    The size is checked on each frame's header, before its payload is read.
    """
    protocol.maxMessagePayloadSize = protocol.maxFramePayloadSize = max_message_bytes
    protocol.failByDrop = False


class InboundQueue(asyncio.Queue):
    """A connection's received frames, waiting for its consumer; Daphne puts, the consumer gets.

    Once ``high`` frames wait, the socket is not read until the consumer has
    taken half of them: a client sending faster than it is served fills its
    own TCP window, not the worker's memory.
    """

    # Times this process stopped reading a socket (logged when the server stops).
    paused_reads: ClassVar[int] = 0

    def __init__(self, transport, *, high: int) -> None:
        super().__init__()
        self._transport = transport
        self._high = high
        self._low = high // 2
        self._reading = True

    def put_nowait(self, item) -> None:
        super().put_nowait(item)
        if self._reading and self.qsize() >= self._high:
            self._reading = False
            self._transport.pauseProducing()
            InboundQueue.paused_reads += 1

    def get_nowait(self):
        item = super().get_nowait()
        if not self._reading and self.qsize() <= self._low:
            self._reading = True
            self._transport.resumeProducing()  # nothing if the connection is gone meanwhile
        return item


def when_running(callback: Callable[..., None], *args) -> None:
    """Call ``callback`` once the server's reactor runs (editor/server.py: this module is the
    one that knows Twisted)."""
    from twisted.internet import reactor

    reactor.callWhenRunning(callback, *args)
