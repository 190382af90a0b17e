"""Helpers for driving the editor page in Chromium with Playwright."""

from __future__ import annotations

import re

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
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(url)
    expect(page.locator("#status")).to_have_text(status)
    return page


def assert_no_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], f"{page.url}: {page.errors}"


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
