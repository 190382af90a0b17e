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

The worker's live parts (live/worker.py) start with the server, not with
its first connection, so that its heartbeats and expiry run from the
start. SIGTERM (what ``docker stop`` and a rolling deploy send) and SIGINT
shut down gracefully: stop listening, close every WebSocket with 1012 (the
browser reconnects at once, to another worker), wait up to
EDITOR_SHUTDOWN_SECONDS for them to leave and their edits to commit, record
the rest closed, then stop. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from functools import partial

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

from .live import sockets

logger = logging.getLogger(__name__)

# The exit status when the address cannot be listened on (a port taken, an address not ours).
EXIT_CANNOT_LISTEN = 2

# After the drain, how long HTTP responses still being sent have to finish.
HTTP_FINISH_SECONDS = 2.0


class EditorServer(Server):
    """Daphne's server; every WebSocket scope carries the connection's frame writer."""

    listen_failure: str | None = None

    def listen_success(self, port) -> None:
        super().listen_success(port)
        self.ports = [*getattr(self, "ports", []), port]

    def listen_error(self, failure) -> None:
        """Daphne logs it and stops its reactor, and under runserver's autoreloader the process
        then goes on without listening: ``run`` exits instead, saying what to do."""
        self.listen_failure = failure.getErrorMessage()
        super().listen_error(failure)

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
        # Ours instead of Twisted's, which stop at once (and Daphne then cancels
        # every consumer: no close frame, no disconnect()). Not under
        # runserver's autoreloader, which handles signals itself.
        graceful, self.signal_handlers = self.signal_handlers, False
        sockets.when_running(self._started, graceful)
        super().run()
        written = sockets.TwistedFrameWriter.written
        logger.info(
            "frame writer: %d frames sent at once, %d queued behind earlier bytes",
            written["at once"],
            written["queued"],
        )
        logger.info("inbound backpressure: %d socket reads paused", sockets.InboundQueue.paused_reads)
        if self.listen_failure is not None:
            print(
                f"{self.listen_failure}\nIs another server running there? Stop it, or choose another"
                " port: scripts/run 8001 (or manage.py runserver 8001).",
                file=sys.stderr,
                flush=True,
            )
            logging.shutdown()
            os._exit(EXIT_CANNOT_LISTEN)  # not SystemExit: runserver runs this in a thread

    def _started(self, graceful: bool) -> None:
        loop = asyncio.get_event_loop()
        if graceful:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._signalled, signum)
        self._boot = asyncio.ensure_future(self._start_worker())

    @staticmethod
    async def _start_worker() -> None:
        from .live import worker  # not at import: Django is set up by then (the ASGI application's import)

        try:
            await worker.current()
        except Exception as error:
            # Redis or the database away at boot: the first connection tries again.
            logger.warning("could not start the worker's live parts yet: %s", error)

    def _signalled(self, signum: int) -> None:
        draining = getattr(self, "_draining", None)
        if draining is not None:
            logger.warning("%s again: stopping now", signal.Signals(signum).name)
            draining.cancel()
            self.stop()
            return
        logger.info("%s: shutting down gracefully", signal.Signals(signum).name)
        self._draining = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        from .live import worker

        try:
            for port in getattr(self, "ports", []):
                port.stopListening()
            # Bounded as a whole: what is still running then is Daphne's to cancel.
            async with asyncio.timeout(settings.EDITOR_SHUTDOWN_SECONDS + 5):
                await worker.drain(grace=settings.EDITOR_SHUTDOWN_SECONDS)
            await self._http_finished(within=HTTP_FINISH_SECONDS)
        except TimeoutError:
            logger.warning(
                "graceful shutdown still going after %.0f s; stopping", settings.EDITOR_SHUTDOWN_SECONDS + 5
            )
        except Exception:
            logger.exception("graceful shutdown failed; stopping")
        finally:
            self.stop()

    async def _http_finished(self, *, within: float) -> None:
        """Wait (briefly) for HTTP responses still being sent: the fallback transport's streams and
        long polls end once the worker stopped (live/fallback.py). Daphne cancels what is left,
        and Django's handler then leaves a task whose RequestAborted nobody retrieves (an ERROR)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while pending := [
                    details["application_instance"]
                    for protocol, details in list(self.connections.items())
                    if not isinstance(protocol, WebSocketProtocol)
                    and details.get("application_instance") is not None
                    and not details["application_instance"].done()
                ]:
                    await asyncio.wait(pending, timeout=within)

    def stop(self) -> None:
        """Daphne's, once: a second reactor.stop() raises."""
        if not getattr(self, "_stopped", False):
            self._stopped = True
            super().stop()


class EditorCommandLine(CommandLineInterface):
    description = "Daphne with the editor's frame writer"
    server_class = EditorServer


if __name__ == "__main__":
    EditorCommandLine.entrypoint()
