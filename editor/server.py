"""Daphne, with the editor's socket handling (live/sockets.py).

Run a worker with Daphne's own options, through this module:

    python -m editor.server -b 0.0.0.0 -p 8000 realtime_site.asgi:application

and ``manage.py runserver`` uses it too (editor/management/commands). It is
Daphne's server where each WebSocket connection

- has a scope extension, ``sockets.WRITER_EXTENSION``, whose ``write``
  takes a whole frame's bytes;
- refuses a message over EDITOR_MAX_FRAME_BYTES, or text that is not UTF-8,
  with a close frame (1009, 1007), whatever Daphne's own size options say;
- stops being read while EDITOR_INBOUND_QUEUE_FRAMES frames wait for its
  consumer (backpressure).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

from .live import sockets

logger = logging.getLogger(__name__)


class EditorServer(Server):
    """Daphne's server; every WebSocket scope carries the connection's frame writer."""

    def protocol_connected(self, protocol) -> None:
        super().protocol_connected(protocol)
        if isinstance(protocol, WebSocketProtocol):
            sockets.set_limits(protocol, max_message_bytes=settings.EDITOR_MAX_FRAME_BYTES)

    def create_application(self, protocol, scope):
        """Daphne's own (daphne.server.Server.create_application), with the WebSocket's queue bounded."""
        assert "application_instance" not in self.connections[protocol]
        if scope["type"] == "websocket":
            sockets.offer_writer(scope, protocol)
            input_queue = sockets.InboundQueue(protocol.transport, high=settings.EDITOR_INBOUND_QUEUE_FRAMES)
        else:
            input_queue = asyncio.Queue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue

    def run(self) -> None:
        logger.info(
            "frames for many sockets are built once and written directly (%s)", sockets.WRITER_EXTENSION
        )
        super().run()
        written = sockets.TwistedFrameWriter.written
        logger.info(
            "frame writer: %d frames sent at once, %d queued behind earlier bytes",
            written["at once"],
            written["queued"],
        )
        logger.info("inbound backpressure: %d socket reads paused", sockets.InboundQueue.paused_reads)


class EditorCommandLine(CommandLineInterface):
    description = "Daphne with the editor's frame writer"
    server_class = EditorServer


if __name__ == "__main__":
    EditorCommandLine.entrypoint()
