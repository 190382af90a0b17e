"""Schemathesis against /api/v1/openapi.json on a real Daphne worker: every check, the
stateful phase included, and zero failures (tests/api/schemathesis.toml says which refusals
of a schema-valid request are the document's state, not the schema's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from editor.models import Document

from .client import make_token, make_user

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
UNLIMITED = {
    name: "1000000"
    for name in (
        "EDITOR_API_REQUESTS_PER_SECOND",
        "EDITOR_API_REQUESTS_BURST",
        "EDITOR_API_EDITS_PER_SECOND",
        "EDITOR_API_EDITS_BURST",
    )
}


def test_the_openapi_description_holds_for_every_generated_request(start_worker, tmp_path):
    user = make_user("fuzzer")
    secret = make_token(user, "write")
    for slug, visibility in [("0", "public"), ("a", "private"), ("view", "view-only")]:
        Document.objects.create(slug=slug, visibility=visibility, owner=user, text="text", length=4)
    worker = start_worker("api", **UNLIMITED)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(CONFIG),
            "run",
            f"{worker.http_url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {secret}",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--seed",
            "20261202",
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # its cache (.schemathesis/) goes there, not into the checkout
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    [report] = tmp_path.glob("junit*.xml")
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 9  # each operation, at least
    assert (int(suite.get("failures")), int(suite.get("errors"))) == (0, 0)
    assert "✅ Stateful" in done.stdout
