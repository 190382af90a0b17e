"""The README's run command on a port someone else holds: it says so and exits, rather than
running on without listening (Daphne's runserver under the autoreloader)."""

import socket
import subprocess

from tests import servers


def test_scripts_run_on_a_taken_port_exits_saying_how_to_choose_another(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = servers.server_environment()
    for name in ("REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "STATIC_ROOT"):
        env.pop(name, None)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    try:
        done = subprocess.run(
            ["scripts/run", f"127.0.0.1:{port}"],
            cwd=servers.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        taken.close()
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"Couldn't listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another port: scripts/run 8001" in done.stderr
