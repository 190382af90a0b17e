"""The HTTP API next to real Chromium tabs on two workers: a script appends and inserts while
two people type; everything converges, every character once, the script's edits under its
token's user. And the API's docs page, under the site's CSP."""

from __future__ import annotations

import collections
import re
import threading

import httpx
import pytest
from playwright.sync_api import expect

from editor.models import Document, EditingSession, Operation
from tests.api.client import make_token, make_user
from tests.documents import read_document
from tests.pages import assert_no_errors, open_editor

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

ROUNDS = 12


def http_script(urls: list[str], secret: str, errors: list) -> None:
    """Appends ``{n}`` and inserts ``<n>`` at the start of the revision it read, through both
    workers in turn, as a bot would."""
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        with httpx.Client(headers=headers, timeout=10) as client:
            for n in range(ROUNDS):
                base = urls[n % 2] + "/api/v1/documents/mixed"
                appended = client.post(f"{base}/append", json={"text": f"{{{n}}}"})
                appended.raise_for_status()
                rev = int(client.get(base).headers["ETag"].strip('"'))
                inserted = client.post(f"{base}/insert", json={"position": 0, "text": f"<{n}>", "rev": rev})
                inserted.raise_for_status()
    except Exception as error:  # reported by the test, in the main thread
        errors.append(error)


def test_http_edits_and_two_typing_tabs_on_two_workers_converge(browser, start_worker):
    bot = make_user("bot")
    secret = make_token(bot, "write")
    Document.objects.create(slug="mixed", visibility="public")
    worker_a, worker_b = start_worker("a"), start_worker("b")
    alice = open_editor(browser.new_context(), f"{worker_a.http_url}/d/mixed/")
    bob = open_editor(browser.new_context(), f"{worker_b.http_url}/d/mixed/")

    errors: list = []
    script = threading.Thread(
        target=http_script, args=([worker_a.http_url, worker_b.http_url], secret, errors)
    )
    script.start()
    alice.locator("#editor").focus()
    bob.locator("#editor").focus()
    for n in range(24):
        alice.keyboard.press("Control+End")
        alice.keyboard.type("abcdefgh"[n % 8])
        bob.keyboard.press("Control+End")
        bob.keyboard.type("ABCDEFGH"[n % 8])
    script.join(timeout=60)
    assert not script.is_alive()
    assert errors == []

    _, text = read_document("mixed")
    expect(alice.locator("#editor")).to_have_value(text)
    expect(bob.locator("#editor")).to_have_value(text)
    typed = "abcdefgh" * 3 + "ABCDEFGH" * 3
    sent = "".join(f"{{{n}}}<{n}>" for n in range(ROUNDS))
    assert collections.Counter(text) == collections.Counter(typed + sent)  # every character once
    for n in range(ROUNDS):
        assert text.count(f"{{{n}}}") == 1
        assert text.count(f"<{n}>") == 1
    assert re.sub(r"[^a-h]", "", text) == "abcdefgh" * 3  # each person's typing in order
    assert re.sub(r"[^A-H]", "", text) == "ABCDEFGH" * 3

    api_sessions = EditingSession.objects.filter(session_id__startswith="api-")
    assert set(api_sessions.values_list("user__username", flat=True)) == {"bot"}
    by_bot = Operation.objects.filter(
        document__slug="mixed", session_id__in=api_sessions.values("session_id")
    )
    assert by_bot.count() == 2 * ROUNDS
    assert_no_errors(alice, bob)


def test_the_api_docs_page_lists_every_operation_under_the_csp(browser, start_worker):
    worker = start_worker("docs")
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    operations = httpx.get(f"{worker.http_url}/api/v1/openapi.json").json()["paths"]
    count = sum(len(methods) for methods in operations.values())
    assert count >= 19
    page.goto(f"{worker.http_url}/api/v1/docs")
    expect(page.locator(".opblock")).to_have_count(count)
    expect(page.locator(".opblock-summary-path").first).to_contain_text("/api/v1/")
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert errors == []
