"""Daphne, with one addition: a connection can be written ready-made frames (frames.py).

Run a worker with Daphne's own options, through this module:

    python -m editor.server -b 0.0.0.0 -p 8000 realtime_site.asgi:application

and ``manage.py runserver`` uses it too (editor/management/commands). It is
Daphne's server with a scope extension for WebSocket connections,
``frames.WRITER_EXTENSION``, whose ``write`` takes a whole frame's bytes.

Why: a frame sent through a consumer passes Channels' send, the session
middleware, Daphne's reply dispatch, autobahn's framing, then Twisted's
write, which queues it, registers the socket with the event loop, and
sends it on the loop's next turn. That was about 45 µs of CPU per socket
(py-spy, human typing), paid 25 times per edit in a room of 50 on two
workers: more than the edit's commit. The writer sends the bytes at once
when Twisted holds nothing for the socket, and otherwise queues them
behind what it holds, so frames from either path stay in order.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import ClassVar

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import tcp

from .live.sockets import WRITER_EXTENSION

logger = logging.getLogger(__name__)


class FrameWriter:
    """Writes whole frames to one WebSocket connection, in order with what Daphne writes to it."""

    # This process's frames: sent to the socket at once, or queued by Twisted
    # behind bytes it held (logged when the server stops).
    written: ClassVar[Counter[str]] = Counter()

    def __init__(self, protocol: WebSocketProtocol) -> None:
        self._protocol = protocol
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


class EditorServer(Server):
    """Daphne's server; every WebSocket scope carries the connection's FrameWriter."""

    def create_application(self, protocol, scope):
        if scope["type"] == "websocket":
            scope.setdefault("extensions", {})[WRITER_EXTENSION] = {"write": FrameWriter(protocol)}
        return super().create_application(protocol, scope)

    def run(self) -> None:
        logger.info("frames for many sockets are built once and written directly (%s)", WRITER_EXTENSION)
        super().run()
        logger.info(
            "frame writer: %d frames sent at once, %d queued behind earlier bytes",
            FrameWriter.written["at once"],
            FrameWriter.written["queued"],
        )


class EditorCommandLine(CommandLineInterface):
    description = "Daphne with the editor's frame writer"
    server_class = EditorServer


if __name__ == "__main__":
    EditorCommandLine.entrypoint()
