"""What an idle WebSocket costs in memory at each layer of the editor's stack, against the
tutorial's Node servers: the floor under bench.compare's idle-memory numbers.

    python -m bench.floor                   # 2,000 idle connections each
    python -m bench.floor --counts 2000,10000

Each row is a fresh server process holding ``count`` idle connections
(compare.py's holder): Daphne, then uvicorn, serving the apps of
bench/floor_apps.py (no Channels; a Channels consumer; behind
AuthMiddlewareStack), the editor's worker (one, on Redis and PostgreSQL),
and the Node servers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psutil

from bench import compare, targets
from deploy import cluster

APPS = {
    "bare": "an ASGI app (no Channels)",
    "consumer": "a Channels consumer",
    "authenticated": "a Channels consumer behind AuthMiddlewareStack",
}
# Each server's command line, for a port and an ASGI application's path.
SERVERS = {
    "Daphne": lambda port, app: [
        sys.executable,
        "-c",
        "from daphne.cli import CommandLineInterface; CommandLineInterface.entrypoint()",
        *("-b", "127.0.0.1", "-p", str(port), app),
    ],
    "uvicorn (websockets, uvloop)": lambda port, app: [
        sys.executable,
        *("-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        *("--ws", "websockets", "--loop", "uvloop", app),
    ],
}


@contextlib.contextmanager
def asgi_server(server: str, app: str) -> Iterator[targets.Target]:
    """One process of ``server`` serving ``bench.floor_apps:<app>``."""
    port = cluster.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as directory:
        process = cluster.Process(
            server,
            SERVERS[server](port, f"bench.floor_apps:{app}"),
            dict(os.environ),
            Path(directory) / "log",
        )
        process.start()
        try:
            cluster.wait_until(
                lambda: process.check_alive() or _accepts(port), timeout=30, what=f"{server} to listen"
            )
            yield targets.Target(
                name=f"{server}, {APPS[app]}",
                kind="ws",
                urls=[f"ws://127.0.0.1:{port}"],
                processes=[psutil.Process(process.pid)],
            )
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):  # killed by wait()
                process.terminate(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="2000")
    arguments = parser.parse_args()
    counts = tuple(int(n) for n in arguments.counts.split(","))
    starts = [partial(asgi_server, server, app) for server in SERVERS for app in APPS] + [
        partial(targets.editor, 1),
        partial(targets.reference, "socketio", 1),
        partial(targets.reference, "ws", 1),
    ]
    rows = []
    for start in starts:
        rows.append(compare.idle_memory(start, counts))
        print(f"  {rows[-1]['target']}: done", flush=True)
    print()
    print(compare.idle_table(rows), flush=True)


if __name__ == "__main__":
    main()
