"""`scripts/cluster N` (deploy/cluster.py's main) as a person runs it: it prints the URL, the
editor answers there through nginx, and Ctrl-C stops every process it started."""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from deploy.cluster import free_port
from editor.models import EditingSession
from tests import servers

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_cluster_command_serves_through_nginx_and_stops_everything_on_ctrl_c(worker_env):
    port = free_port()
    env = {**worker_env}
    env.pop("STATIC_ROOT")  # its own, collected by the command
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.cluster", "2", "--port", str(port)],
        cwd=servers.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    logs = None
    try:
        output = []
        for line in process.stdout:  # ends at the line that says where it runs
            output.append(line)
            if "workers behind nginx" in line:
                break
        banner = output[-1] if output else ""
        match = re.search(r"2 workers behind nginx: http://localhost:(\d+)/ +\(logs in (\S+);", banner)
        assert match, "".join(output)
        assert int(match[1]) == port
        logs = Path(match[2])
        for path in ("/d/from-the-script/", "/readyz"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                assert response.status == 200, path
        # nginx replaces a forged X-Forwarded-For with the address it saw, which the workers believe.
        forged = {"X-Forwarded-For": "203.0.113.9"}
        url = f"ws://127.0.0.1:{port}/ws/docs/from-the-script/"
        with connect(url, origin=f"http://127.0.0.1:{port}", additional_headers=forged) as socket:
            session = json.loads(socket.recv(timeout=10))["session"]
        assert EditingSession.objects.get(session_id=session).client_address == "127.0.0.1"
        worker_ports = [
            int(found[1])
            for log in sorted(logs.glob("web*.log"))
            if (found := re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", log.read_text()))
        ]
        assert len(worker_ports) == 2

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
        assert "stopping" in rest
        assert all(refuses(p) for p in [port, *worker_ports]), "nginx and both workers are gone"
        for log in logs.glob("web*.log"):
            assert "Traceback" not in log.read_text(), log.name
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if logs is not None:
            shutil.rmtree(logs, ignore_errors=True)


@pytest.mark.django_db(transaction=False)
def test_free_ports_are_below_the_ephemeral_range_and_free():
    """A port from the ephemeral range can become an outgoing connection's source port before the
    server listens on it (CI saw a worker fail to listen so): the cluster's come from below it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        port = free_port()
        assert 1024 <= port < low
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))
