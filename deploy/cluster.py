"""The compose topology with real processes on this machine: N Daphne workers
(``python -m editor.server``, DEBUG off) behind nginx running deploy/nginx.conf,
against the machine's PostgreSQL and Redis (or those ``DATABASE_URL`` and
``REDIS_URL`` name).

    scripts/cluster 3              # http://localhost:8000/, Ctrl-C stops everything

Where compose resolves ``web`` through Docker's DNS, this cluster writes the
workers' own addresses into the upstream (the lines of deploy/nginx.conf
marked "compose only"); everything else in the file runs as it is. The fault
tests (tests/test_cluster_faults.py) drive a ``Cluster`` the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COMPOSE_ONLY = re.compile(r"^.*# \(compose only\)\n", re.M)
UPSTREAM_SERVER = re.compile(r"^(\s*)server web:8000 resolve( [^;]*)?; # \(compose only\)$", re.M)
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/realtime_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    """A port nothing listens on now, for a server started (and maybe restarted) on it later.

    Chosen below the system's ephemeral range (``ip_local_port_range``): a port from inside it,
    as binding port 0 gives, can meanwhile become the source port of any outgoing connection
    on the machine (a client of Redis, of PostgreSQL), and the server then cannot listen."""
    low, _ = _ephemeral_ports()
    for _ in range(100):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {low}")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return result


def nginx_conf(worker_ports: list[int], listen_port: int, directory: Path) -> str:
    """deploy/nginx.conf for workers on these local ports, listening on ``listen_port``, with its
    temporary files and access log under ``directory``."""
    conf = NGINX_CONF.read_text()
    match = UPSTREAM_SERVER.search(conf)
    if match is None:
        raise ValueError("deploy/nginx.conf has no `server web:8000 resolve ...; # (compose only)` line")
    indent, parameters = match.group(1), match.group(2) or ""
    servers = "".join(f"{indent}server 127.0.0.1:{port}{parameters};\n" for port in worker_ports)
    conf = conf[: match.start()] + servers.rstrip("\n") + conf[match.end() :]
    conf = COMPOSE_ONLY.sub("", conf)
    conf, listens = re.subn(r"^(\s*)listen 80;$", rf"\1listen 127.0.0.1:{listen_port};", conf, flags=re.M)
    temp_paths = "".join(
        f" {kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf, blocks = re.subn(
        r"^http \{$", f"http {{{temp_paths} access_log {directory}/access.log;", conf, flags=re.M
    )
    if (listens, blocks) != (1, 1):
        raise ValueError("deploy/nginx.conf should have one `http {` block and one `listen 80;`")
    return conf


def answers(url: str, *, timeout: float = 2) -> bool:
    """Whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, timed out, or an HTTP error status (HTTPError is one)
        return False


class Process:
    """A child process with its output in a log file; stopped by signal, never by name."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if not self.running:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")

    def terminate(self, *, wait: bool = True, timeout: float = 30) -> None:
        """SIGTERM, what `docker stop` sends; then wait for the graceful exit (SIGKILL after
        ``timeout`` seconds, and TimeoutExpired)."""
        if self.running:
            self.process.terminate()
            if wait:
                self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a crash or an OOM kill."""
        if self.running:
            self.process.kill()
            self.process.wait(timeout=10)


class Worker(Process):
    """One Daphne worker on a port of its own, which it keeps across restarts."""

    def __init__(self, name: str, env: dict[str, str], directory: Path) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "editor.server", "-b", "127.0.0.1", "-p", str(self.port)]
        super().__init__(name, [*args, "realtime_site.asgi:application"], env, directory / f"{name}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        self.check_alive()
        return answers(f"{self.url}/readyz")

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(self.ready, timeout=timeout, what=f"{self.name} to be ready")


class Cluster:
    """N workers and nginx; ``env`` is every worker's environment (settings, stores)."""

    def __init__(self, workers: int, env: dict[str, str], directory: Path, *, port: int = 0) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.workers = [
            Worker(f"web{i + 1}", {**env, "WORKER_ID": f"web{i + 1}"}, directory) for i in range(workers)
        ]
        nginx_dir = directory / "nginx"
        args = [NGINX, "-p", f"{nginx_dir}/", "-c", str(nginx_dir / "nginx.conf"), "-g"]
        args.append(f"daemon off; pid {nginx_dir}/nginx.pid; error_log {nginx_dir}/error.log warn;")
        self.nginx = Process("nginx", args, env, directory / "nginx.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        """Start everything and wait until it is ready; on failure (or Ctrl-C), stop what started."""
        try:
            for worker in self.workers:
                worker.start()
            nginx_dir = self.directory / "nginx"
            nginx_dir.mkdir(exist_ok=True)
            ports = [worker.port for worker in self.workers]
            (nginx_dir / "nginx.conf").write_text(nginx_conf(ports, self.port, nginx_dir))
            self.nginx.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Every worker ready, and nginx answering for them."""
        for worker in self.workers:
            worker.wait_ready(timeout)

        def through_nginx() -> bool:
            self.nginx.check_alive()
            return answers(f"{self.url}/healthz")

        wait_until(through_nginx, timeout=timeout, what="nginx to answer")

    def restart_all(self) -> float:
        """Stop every worker at once (SIGTERM), start them again; returns the monotonic time at
        which the last one was ready again."""
        for worker in self.workers:
            worker.terminate(wait=False)
        for worker in self.workers:
            worker.wait()
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            worker.wait_ready()
        return time.monotonic()

    def stop(self) -> None:
        """Workers first, gracefully and all at once (SIGKILL after 30 s); nginx last, whatever
        happened to them."""
        try:
            for worker in self.workers:
                worker.terminate(wait=False)
            for worker in self.workers:
                if worker.process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):  # killed by wait()
                        worker.wait()
        finally:
            self.nginx.terminate()


def prepare(env: dict[str, str]) -> None:
    """The database exists and is migrated; the static files are collected."""
    url = urlsplit(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    maintenance = url._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    for command in (
        ["migrate", "--noinput", "--verbosity", "0"],
        ["collectstatic", "--noinput", "--verbosity", "0"],
    ):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)


def local_env(port: int, directory: Path) -> dict[str, str]:
    """Production-like settings for a cluster on this machine: DEBUG off, plain HTTP on localhost."""
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    origins = f"http://localhost:{port},http://127.0.0.1:{port}"
    env.update(
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        CSRF_TRUSTED_ORIGINS=origins,
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        TRUSTED_PROXIES="127.0.0.1",
        DATABASE_URL=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        REDIS_URL=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        REDIS_PREFIX=os.environ.get("REDIS_PREFIX", "realtime-cluster"),
        STATIC_ROOT=os.environ.get("STATIC_ROOT", str(directory / "static")),
        PYTHONUNBUFFERED="1",
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workers", type=int, nargs="?", default=3, help="how many workers (default 3)")
    parser.add_argument("--port", type=int, default=8000, help="nginx's port on localhost (default 8000)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("at least one worker")
    directory = Path(tempfile.mkdtemp(prefix="realtime-cluster-"))
    env = local_env(args.port, directory)
    prepare(env)
    cluster = Cluster(args.workers, env, directory, port=args.port)
    signal.signal(signal.SIGTERM, interrupted)  # as Ctrl-C (KeyboardInterrupt): stop everything
    try:
        cluster.start()  # stops what it started if interrupted
        where = f"http://localhost:{cluster.port}/  (logs in {directory}; Ctrl-C stops)"
        print(f"{args.workers} workers behind nginx: {where}", flush=True)
        while True:
            time.sleep(0.5)
            for process in (*cluster.workers, cluster.nginx):
                process.check_alive()
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second one must not cut the stop short
            signal.signal(signum, signal.SIG_IGN)
    finally:
        cluster.stop()
    return 0


def interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
