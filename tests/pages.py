"""Helpers for driving the editor page in Chromium with Playwright."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests import servers


def open_editor(context: BrowserContext, url: str, *, status: str = "live") -> Page:
    """Open the editor page and wait until its socket is live (``status``: what the page says
    then, "live · fallback" where WebSockets are blocked).

    Errors the page's JavaScript throws or logs are collected in
    ``page.errors``; ``assert_no_errors`` fails a test that had any.
    """
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(_console_text(message)))
    page.goto(url)
    expect(page.locator("#status")).to_have_text(status)
    return page


def _console_text(message) -> str:
    """What Chromium logged, with the URL it was about ("Failed to load resource" says none)."""
    url = (message.location or {}).get("url", "")
    return f"{message.text} ({url})" if url and url not in message.text else message.text


def without_fallback_failures(page: Page) -> None:
    """Forget the failed requests of the fallback transport, which the page tries while no
    WebSocket opens (a worker down): expected there, like the failed WebSocket attempts."""
    page.errors = [error for error in page.errors if "/fallback/" not in error]


def assert_no_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], f"{page.url}: {page.errors}"


AXE_SCRIPT = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def serious_accessibility_violations(page: Page) -> list[str]:
    """What axe-core (installed by the test command: package.json) finds serious or critical on
    the page as it is now, one line per rule and element.

    Evaluated through the DevTools protocol, which the page's CSP does not govern: a script
    tag would be refused, as it should be.
    """
    if not AXE_SCRIPT.exists():
        raise AssertionError(f"{AXE_SCRIPT} is missing: run npm ci (scripts/test does)")
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8") + "\n;undefined")
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .flatMap((v) => v.nodes.map((n) =>
                `${v.id} (${v.impact}): ${n.target.join(" ")}: ${n.failureSummary}`))"""
    )
    return violations


def type_at_end(page: Page, text: str) -> None:
    editor = page.locator("#editor")
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def connections_logged(server: servers.ServerProcess, slug: str) -> int:
    return len(re.findall(rf"connect doc={slug} session=", server.log()))


def wait_for_connections(server: servers.ServerProcess, slug: str, count: int) -> None:
    servers.wait_until(
        lambda: connections_logged(server, slug) >= count,
        timeout=10,
        what=f"{server.name} to log {count} connections to {slug}",
    )
    assert connections_logged(server, slug) == count
