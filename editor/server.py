"""Daphne, with one addition: a connection can be written ready-made frames (live/sockets.py).

Run a worker with Daphne's own options, through this module:

    python -m editor.server -b 0.0.0.0 -p 8000 realtime_site.asgi:application

and ``manage.py runserver`` uses it too (editor/management/commands). It is
Daphne's server with a scope extension for WebSocket connections,
``sockets.WRITER_EXTENSION``, whose ``write`` takes a whole frame's bytes.
"""

from __future__ import annotations

import logging

from daphne.cli import CommandLineInterface
from daphne.server import Server

from .live import sockets

logger = logging.getLogger(__name__)


class EditorServer(Server):
    """Daphne's server; every WebSocket scope carries the connection's frame writer."""

    def create_application(self, protocol, scope):
        if scope["type"] == "websocket":
            sockets.offer_writer(scope, protocol)
        return super().create_application(protocol, scope)

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


class EditorCommandLine(CommandLineInterface):
    description = "Daphne with the editor's frame writer"
    server_class = EditorServer


if __name__ == "__main__":
    EditorCommandLine.entrypoint()
