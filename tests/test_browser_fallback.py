"""The page in real Chromium where WebSockets are blocked: behind a real nginx that answers
403 to every upgrade (tests/hostile_proxy.py), round-robin over two real workers, the page
edits over the fallback transport with a tab on a plain WebSocket; a proxy that holds
streams back ends on long polls; unblocked, the page moves back to a WebSocket; a worker
killed under a fallback session loses nothing acknowledged."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.documents import read_document
from tests.hostile_proxy import HostileProxy
from tests.pages import assert_no_errors, open_editor, type_at_end, without_fallback_failures

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

PROBE_SECONDS = 3  # EDITOR_FALLBACK_PROBE_SECONDS for these workers
# What Chromium logs for each WebSocket the proxy refuses: the page's own attempts and probes.
REFUSED = re.compile(
    r"WebSocket connection to '.*' failed: Error during WebSocket handshake: Unexpected response code: 403"
)


@pytest.fixture
def workers(start_worker):
    env = {"EDITOR_FALLBACK_PROBE_SECONDS": str(PROBE_SECONDS), "TRUSTED_PROXIES": "127.0.0.1"}
    return start_worker("a", **env), start_worker("b", **env)


def hostile(workers, tmp_path, **options):
    return HostileProxy([worker.port for worker in workers], tmp_path, **options).start()


@pytest.fixture
def proxy(workers, tmp_path):
    running = hostile(workers, tmp_path)
    yield running
    running.stop()


def without_refusals(page: Page) -> None:
    """The 403s the blocked page is expected to see; anything else stays an error."""
    page.errors = [error for error in page.errors if not REFUSED.search(error)]


def transport(page: Page) -> str:
    return page.evaluate("window.editor.socket.transport")


def fallback_requests(worker) -> int:
    return len(re.findall(r'"(?:GET|POST) /fallback/sessions/[^ ]+/(?:events|poll|frames)', worker.log()))


def test_a_tab_behind_a_proxy_that_blocks_websockets_edits_live_with_a_websocket_tab(browser, workers, proxy):
    worker_a, worker_b = workers
    blocked = open_editor(browser.new_context(), f"{proxy.url}/d/blocked/", status="live · fallback")
    direct = open_editor(browser.new_context(), f"{worker_a.http_url}/d/blocked/")
    expect(blocked.locator("#status")).to_have_attribute("data-transport", "stream")
    assert transport(direct) == "websocket"

    type_at_end(blocked, "over http ")
    expect(direct.locator("#editor")).to_have_value("over http ")
    type_at_end(direct, "over ws ")
    expect(blocked.locator("#editor")).to_have_value("over http over ws ")
    for round_ in range(3):  # both at once
        type_at_end(blocked, f"b{round_}")
        type_at_end(direct, f"d{round_}")
    for page in (blocked, direct):
        expect(page.locator("#editor")).to_have_value(re.compile(r"^over http over ws [bd\d]{12}$"))
    text = blocked.locator("#editor").input_value()
    assert direct.locator("#editor").input_value() == text
    assert sorted(text[-12:]) == sorted("b0b1b2d0d1d2")  # every keystroke, once
    assert read_document("blocked")[1] == text
    # Round-robin: the session's requests reached both workers; the other's were relayed.
    assert fallback_requests(worker_a) > 0
    assert fallback_requests(worker_b) > 0
    without_refusals(blocked)
    assert_no_errors(blocked, direct)


def test_behind_a_proxy_that_holds_streams_back_the_page_ends_on_long_polls(browser, workers, tmp_path):
    holding = hostile(workers, tmp_path, block=True, hold=True)
    try:
        held = open_editor(browser.new_context(), f"{holding.url}/d/held/", status="live · fallback")
        direct = open_editor(browser.new_context(), f"{workers[0].http_url}/d/held/")
        expect(held.locator("#status")).to_have_attribute("data-transport", "poll")
        type_at_end(held, "polled ")
        expect(direct.locator("#editor")).to_have_value("polled ")
        type_at_end(direct, "back")
        expect(held.locator("#editor")).to_have_value("polled back")
        assert read_document("held")[1] == "polled back"
        without_refusals(held)
        assert_no_errors(held, direct)
    finally:
        holding.stop()


def test_once_websockets_get_through_again_the_page_moves_back_to_one_losing_nothing(browser, workers, proxy):
    page = open_editor(browser.new_context(), f"{proxy.url}/d/upgrade/", status="live · fallback")
    watcher = open_editor(browser.new_context(), f"{workers[1].http_url}/d/upgrade/")
    type_at_end(page, "before ")
    expect(watcher.locator("#editor")).to_have_value("before ")

    proxy.reload(block=False)
    type_at_end(page, "while ")  # typed as it moves, or just before
    # Within the probe interval (and the 2.5 s a probe may take), back on a WebSocket.
    expect(page.locator("#status")).to_have_text("live", timeout=(PROBE_SECONDS + 5) * 1000)
    expect(page.locator("#status")).to_have_attribute("data-transport", "websocket")
    type_at_end(page, "after")
    for tab in (page, watcher):
        expect(tab.locator("#editor")).to_have_value("before while after")
    assert read_document("upgrade")[1] == "before while after"  # nothing lost, nothing twice
    without_refusals(page)
    assert_no_errors(page, watcher)


def test_a_worker_killed_under_a_fallback_session_loses_nothing_acknowledged(browser, workers, proxy):
    page = open_editor(browser.new_context(), f"{proxy.url}/d/killed/", status="live · fallback")
    holder, survivor = sorted(workers, key=lambda w: "connect doc=killed" not in w.log())
    assert "connect doc=killed" in holder.log()
    watcher = open_editor(browser.new_context(), f"{survivor.http_url}/d/killed/")
    type_at_end(page, "acknowledged ")
    expect(watcher.locator("#editor")).to_have_value("acknowledged ")
    expect(page.locator("#editor")).to_have_attribute("data-status", "live")

    holder.kill()  # SIGKILL: no goodbye, no close event
    type_at_end(page, "meanwhile")
    # The session is gone with its worker: the page opens another (through nginx, now only the
    # survivor), resumes from its revision and sends what it typed.
    expect(page.locator("#status")).to_have_text("live · fallback", timeout=20_000)
    for tab in (page, watcher):  # the dead worker's requests time out first (a few seconds)
        expect(tab.locator("#editor")).to_have_value("acknowledged meanwhile", timeout=20_000)
    assert read_document("killed")[1] == "acknowledged meanwhile"
    without_refusals(page)
    # Chromium logs the requests the dead worker never answered (nginx's 502s, the 410s).
    without_fallback_failures(page)
    assert_no_errors(page, watcher)
