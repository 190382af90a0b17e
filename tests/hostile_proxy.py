"""nginx as the networks the fallback transport is for: deploy/nginx.conf in front of real
workers, round-robin, with WebSocket upgrades answered 403 (as corporate proxies do) and,
if asked, event streams held back in buffers (as proxies that ignore X-Accel-Buffering do).
``reload`` changes that while the browser stays connected."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import websockets
import websockets.sync.client

from deploy import cluster

BLOCK_UPGRADES = """
            # As a proxy that refuses WebSockets: every Upgrade request gets a 403.
            if ($http_upgrade) {
                return 403;
            }
"""
HOLD_STREAMS = """
            # As a proxy that buffers and compresses responses, whatever the worker asks.
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
            gzip on;
            gzip_types text/event-stream application/json;
            gzip_min_length 1;
"""


def hostile_conf(worker_ports: list[int], port: int, directory: Path, *, block: bool, hold: bool) -> str:
    conf = cluster.nginx_conf(worker_ports, port, directory)
    # Round-robin, so that a session's requests land on every worker in turn.
    conf = conf.replace("        least_conn;\n", "", 1)
    location = "        location / {\n"
    assert location in conf, "deploy/nginx.conf has no `location /`"
    extra = (BLOCK_UPGRADES if block else "") + (HOLD_STREAMS if hold else "")
    conf = conf.replace(location, location + extra, 1)
    if hold:
        conf = conf.replace("proxy_buffering off;", "", 1)
    return conf


class HostileProxy:
    def __init__(self, worker_ports: list[int], directory: Path, *, block: bool = True, hold: bool = False):
        self.worker_ports = worker_ports
        self.directory = directory / "nginx"
        self.directory.mkdir(exist_ok=True)
        self.port = cluster.free_port()
        args = [cluster.NGINX, "-p", f"{self.directory}/", "-c", str(self.directory / "nginx.conf"), "-g"]
        args.append(f"daemon off; pid {self.directory}/nginx.pid; error_log {self.directory}/error.log warn;")
        self.process = cluster.Process("nginx", args, dict(os.environ), directory / "nginx.log")
        self._write(block=block, hold=hold)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self, *, block: bool, hold: bool) -> None:
        conf = hostile_conf(self.worker_ports, self.port, self.directory, block=block, hold=hold)
        (self.directory / "nginx.conf").write_text(conf)

    def start(self) -> HostileProxy:
        self.process.start()
        cluster.wait_until(lambda: cluster.answers(f"{self.url}/healthz"), timeout=10, what="nginx to answer")
        return self

    def reload(self, *, block: bool, hold: bool = False) -> None:
        """The new configuration for new connections (nginx's SIGHUP), waited for by its effect;
        open connections carry on."""
        self._write(block=block, hold=hold)
        os.kill(self.process.pid, signal.SIGHUP)
        cluster.wait_until(lambda: self.upgrades_pass() != block, timeout=10, what="nginx to reload")

    def upgrades_pass(self) -> bool:
        """Whether a WebSocket handshake gets through now (to the probe endpoint)."""
        try:
            with websockets.sync.client.connect(
                f"ws://127.0.0.1:{self.port}/ws/probe/", origin=self.url, open_timeout=5
            ) as socket:
                socket.recv(timeout=5)
        except websockets.ConnectionClosedOK:
            return True
        except (websockets.InvalidStatus, OSError):
            return False
        return True

    def stop(self) -> None:
        self.process.terminate(timeout=10)
