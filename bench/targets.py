"""The servers under test, started as real processes, and what they cost.

- ``editor``: this product, N Daphne workers sharing Redis and PostgreSQL
  (a database of its own, created afresh), production settings.
- ``socketio``: the tutorial's socket.io relay, N processes with the Redis
  adapter when N > 1 (bench/reference/socketio-server.js).
- ``ws``: the plain ``ws`` relay, one process (bench/reference/ws-server.js).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from tests import servers

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "bench" / "reference"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = "realtime_bench"


@dataclass
class Target:
    """Running servers: the protocol to speak, where, and the processes to measure."""

    name: str
    kind: str  # a key of bench.clients.CLIENTS
    urls: list[str]
    processes: list[psutil.Process]
    redis: psutil.Process | None = None
    extra: dict = field(default_factory=dict)

    def measured(self) -> dict[str, psutil.Process]:
        named = {f"server {i + 1}": process for i, process in enumerate(self.processes)}
        if self.redis is not None:
            named["redis"] = self.redis
        return named


class Usage:
    """CPU seconds and RSS of a target's processes over a stretch of time."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.before = {name: cpu_seconds(process) for name, process in target.measured().items()}

    def finish(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_seconds": cpu_seconds(process) - self.before[name],
                "rss_mb": process.memory_info().rss / 2**20,
            }
            for name, process in self.target.measured().items()
        }


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU a process has used so far."""
    times = process.cpu_times()
    return times.user + times.system


def redis_process() -> psutil.Process:
    return psutil.Process(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])


def _node_server(script: str, port: int, log: Path, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "PORT": str(port), "QUIET": "1", **env}
    process = subprocess.Popen(
        ["node", str(REFERENCE / script)],
        cwd=REFERENCE,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
    )
    for line in process.stdout:
        if line.decode().startswith("listening"):
            return process
    raise RuntimeError(f"{script} on {port} exited: {log.read_text()[-2000:]}")


def ensure_reference_installed() -> None:
    if not (REFERENCE / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REFERENCE, check=True)


@contextlib.contextmanager
def reference(kind: str, processes: int) -> Iterator[Target]:
    ensure_reference_installed()
    script = {"socketio": "socketio-server.js", "ws": "ws-server.js"}[kind]
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    env = {}
    if processes > 1:
        env = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": f"bench-{secrets.token_hex(4)}"}
    started = []
    try:
        for _ in range(processes):
            port = servers.free_port()
            started.append((port, _node_server(script, port, workdir / f"{kind}-{port}.log", **env)))
        label = "socket.io" if kind == "socketio" else "ws"
        yield Target(
            name=f"{label}, {processes} process" + ("es + Redis" if processes > 1 else ""),
            kind=kind,
            urls=[f"ws://127.0.0.1:{port}" for port, _ in started],
            processes=[psutil.Process(process.pid) for _, process in started],
            redis=redis_process() if processes > 1 else None,
        )
    finally:
        for _, process in started:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _fresh_database() -> str:
    for command in (["dropdb", "--if-exists", DATABASE], ["createdb", DATABASE]):
        subprocess.run([*command, "-h", "127.0.0.1", "-U", "postgres"], check=True, capture_output=True)
    return f"{POSTGRES}/{DATABASE}"


# Every bench client connects from 127.0.0.1: the per-address limit (100 by default)
# would refuse all but the first hundred of them on each worker.
BENCH_SETTINGS = {"EDITOR_MAX_CONNECTIONS_PER_ADDRESS": "100000"}


@contextlib.contextmanager
def editor(workers: int = 2, **settings: str) -> Iterator[Target]:
    """This product: ``workers`` Daphne processes on Redis and a fresh PostgreSQL database
    (with ``BENCH_SETTINGS`` and these settings in their environment; ``extra["env"]`` is
    that environment)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-editor-"))
    settings = {**BENCH_SETTINGS, **settings}
    env = servers.server_environment(
        DATABASE_URL=_fresh_database(),
        REDIS_URL=REDIS_URL,
        REDIS_PREFIX=f"bench-{secrets.token_hex(4)}",
        EDITOR_LOG_LEVEL="WARNING",
        **settings,
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    started = []
    try:
        for n in range(workers):
            started.append(servers.daphne_worker(f"worker{n}", env, workdir))
        yield Target(
            name=f"this editor, {workers} Daphne worker{'s' if workers > 1 else ''} + Redis",
            kind="editor",
            urls=[worker.ws_url for worker in started],
            processes=[psutil.Process(worker.pid) for worker in started],
            redis=redis_process(),
            extra={"logs": [worker.log_path for worker in started], "env": env},
        )
    finally:
        for worker in started:
            worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def worker_log_errors(target: Target) -> list[str]:
    """Tracebacks and errors the product's workers logged during a run."""
    lines = []
    for path in target.extra.get("logs", []):
        if Path(path).exists():
            lines += [
                line for line in Path(path).read_text().splitlines() if re.search(r"ERROR|Traceback", line)
            ]
    return lines
