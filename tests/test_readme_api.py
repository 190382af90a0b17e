"""The README's HTTP API examples, run as they are written against `manage.py runserver`."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests import servers

pytestmark = pytest.mark.multiprocess


def readme_api_commands() -> str:
    section = (servers.ROOT / "README.md").read_text().split("## The HTTP API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S)[1]


def test_the_readme_curl_examples_work_on_runserver(runserver, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DEBUG", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'dev.sqlite3'}"  # the runserver fixture's database
    python = str(servers.ROOT / ".venv/bin/python")
    subprocess.run(
        [
            python,
            "manage.py",
            "shell",
            "-c",
            "from django.contrib.auth.models import User; User.objects.create_user('alice')",
        ],
        cwd=servers.ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    commands = readme_api_commands().replace("http://localhost:8000", runserver.http_url)
    # Every answer on a line of its own, and any HTTP error fails the script.
    script = 'curl() { command curl --fail-with-body "$@"; echo; }\n' + commands
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=servers.ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert answers[0] == {"slug": "notes", "rev": 1, "text": "Hello", "length": 5}
    replaced = next(a for a in answers if a.get("rev") == 5)
    assert replaced["id"].startswith("h-")
    log = next(a for a in answers if "operations" in a)
    assert [o["author"] for o in log["operations"]] == ["alice"] * 5
    subscribed = answers[-1]
    assert subscribed["secret"].startswith("whsec_")
    assert subscribed["document"] == "notes"
