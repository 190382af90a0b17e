"""A local webhook receiver: a real HTTP server in a thread, recording what it is sent."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Answers 2xx, or ``fail`` times 500 first; ``wait_for(n)`` blocks until n requests came."""

    def __init__(self, *, fail: int = 0, status: int = 204) -> None:
        self.fail, self.status = fail, status
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver._arrived:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = receiver.fail > 0
                    receiver.fail -= failing
                    receiver._arrived.notify_all()
                self.send_response(500 if failing else receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, *, timeout: float = 10, event: str | None = None) -> list[Received]:
        """The first ``count`` requests (of that event type, if given), once they have come."""

        def matching() -> list[Received]:
            return [r for r in self.received if event is None or r.event["type"] == event]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                raise TimeoutError(f"{len(matching())} of {count} {event or 'requests'} came in {timeout} s")
            return matching()[:count]
