"""Real server processes for tests: Daphne workers and Django's runserver.

Each process writes its output to a file, so tests can read what the server
logged; readiness is awaited by reading the log or polling /healthz, never by
sleeping a fixed time.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from deploy import cluster
from deploy.cluster import ROOT, free_port, wait_until

LISTENING = re.compile(r"Listening on TCP address [\d.]+:(\d+)")


def server_environment(**overrides: str) -> dict[str, str]:
    """Production-like settings for a worker: DEBUG off, a real secret key, collected static files."""
    # Without DJANGO_SETTINGS_MODULE, as in production: the ASGI module names the settings.
    unset = ("DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Tests speak plain HTTP to the workers, as the docker-compose demo does.
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        # A stopping worker waits this long for its sockets to close (editor/server.py).
        EDITOR_SHUTDOWN_SECONDS="5",
        PYTHONUNBUFFERED="1",
    )
    if "STATIC_ROOT" not in overrides:
        env["STATIC_ROOT"] = str(collected_static())
    env.update(overrides)
    return env


@functools.cache
def collected_static() -> Path:
    """This checkout's static files collected as for a DEBUG-off worker, once per process.

    Such a worker serves hashed names from STATIC_ROOT only and refuses to start without
    them (realtime_site/static_storage.py). About 1.5 s; removed when the process exits.
    """
    directory = Path(tempfile.mkdtemp(prefix="realtime-static-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=server_environment(STATIC_ROOT=str(directory)),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"collectstatic exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return directory


class ServerProcess(cluster.Process):
    """One server process, its port and its log (deploy/cluster.py's Process, waited for)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__(name, args, env, log_path)
        self.port: int | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, *, port_from_log: bool) -> ServerProcess:
        super().start()
        if port_from_log:
            match = wait_until(self._listening, timeout=30, what=f"{self.name} to listen")
            self.port = int(match.group(1))
        wait_until(self._healthy, timeout=30, what=f"{self.name} to answer /healthz")
        return self

    def _listening(self):
        self.check_alive()
        return LISTENING.search(self.log())

    def _healthy(self) -> bool:
        self.check_alive()
        return cluster.answers(f"{self.http_url}/healthz")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        with contextlib.suppress(subprocess.TimeoutExpired):  # killed by wait()
            self.terminate(timeout=10)


def daphne_worker(name: str, env: dict[str, str], log_dir: Path, port: int = 0) -> ServerProcess:
    """A production-like worker; port 0 lets the system choose, read back from its log."""
    args = [
        sys.executable,
        "-m",
        "editor.server",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "realtime_site.asgi:application",
    ]
    return ServerProcess(name, args, env, log_dir / f"{name}.log").start(port_from_log=True)


def runserver(name: str, env: dict[str, str], log_dir: Path) -> ServerProcess:
    port = free_port()
    args = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    server = ServerProcess(name, args, env, log_dir / f"{name}.log")
    server.port = port
    return server.start(port_from_log=False)


class RedisServer:
    """A Redis of the test's own (nothing kept on disk), to stop and start again on its port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def arguments(self) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]

    def start(self) -> RedisServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.arguments(), stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=10, what=f"redis on {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, like a crash or a machine gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


class ReplicatedRedis(RedisServer):
    """A master, or a replica of one (``replica_of``), for Sentinel tests.

    Replication moves a snapshot from master to replica (the replica writes it to disk), so its
    files go to the log directory; the master sends it at once instead of waiting 5 s for more
    replicas. A replica's ``start`` returns once it is in sync with its master.
    """

    def __init__(self, log_dir: Path, *, replica_of: RedisServer | None = None) -> None:
        super().__init__(log_dir)
        self.log_dir = log_dir
        self.replica_of = replica_of

    def arguments(self) -> list[str]:
        # Each in a directory of its own: a replica's received snapshot is named dump.rdb.
        directory = self.log_dir / f"redis-{self.port}"
        directory.mkdir(exist_ok=True)
        args = [*super().arguments(), "--dir", str(directory), "--repl-diskless-sync-delay", "0"]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        return args

    def start(self) -> ReplicatedRedis:
        super().start()
        if self.replica_of is not None:
            wait_until(self._in_sync, timeout=10, what=f"the replica on {self.port} to sync")
        return self

    def _in_sync(self) -> bool:
        with redis.Redis(port=self.port, socket_timeout=1) as client:
            return client.info("replication").get("master_link_status") == "up"


class RedisSentinel:
    """One Sentinel (quorum 1) watching ``master`` under ``name``, quick to fail over.

    ``down_after_ms`` below about a second makes it take the new master for down too, for a
    moment, right after promoting it (its pings come once a second): 1000 is the least here
    that fails over once.
    """

    def __init__(
        self,
        log_dir: Path,
        master: RedisServer,
        *,
        name: str = "editor",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        self.port = free_port()
        self.name = name
        self.master = master
        self.config_path = log_dir / f"sentinel-{self.port}.conf"
        self.log_path = log_dir / f"sentinel-{self.port}.log"
        self.settings = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {log_dir}",
            f"sentinel monitor {name} 127.0.0.1 {master.port} 1",
            f"sentinel down-after-milliseconds {name} {down_after_ms}",
            f"sentinel failover-timeout {name} {failover_timeout_ms}",
        ]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.name}"

    def start(self, *, replicas: int = 1) -> RedisSentinel:
        """Returns once it answers and knows ``replicas`` replicas in sync (it fails over to those only)."""
        self.config_path.write_text("\n".join(self.settings) + "\n")  # Sentinel rewrites it as it goes
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", str(self.config_path), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self._replicas_known() >= replicas, timeout=15, what="Sentinel to find the replicas"
        )
        return self

    def _replicas_known(self) -> int:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server --sentinel exited with {self.process.returncode}")
        try:
            with redis.Redis(port=self.port, socket_timeout=1, decode_responses=True) as client:
                replicas = client.execute_command("SENTINEL", "REPLICAS", self.name)
        except redis.RedisError:
            return 0
        return sum(
            1
            for replica in replicas
            if replica.get("master-link-status") == "ok" and "s_down" not in replica.get("flags", "")
        )

    def master_port(self) -> int | None:
        """The port of the master it names now."""
        with redis.Redis(port=self.port, socket_timeout=1, decode_responses=True) as client:
            address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        return int(address[1]) if address else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
