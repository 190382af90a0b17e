"""The tutorial's own steps in real Chromium: three tabs share one text.

Run once against `manage.py runserver` (SQLite, in-memory channel layer) and
once with the tabs spread over two Daphne workers sharing Redis.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor, type_at_end, wait_for_connections

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_three_tabs_on_runserver_share_one_text(browser, runserver):
    context = browser.new_context()
    url = f"{runserver.http_url}/"
    tabs = [open_editor(context, url) for _ in range(3)]
    wait_for_connections(runserver, "default", 3)
    # Three tabs of one browser: one person, three tabs (issue 17), every caret drawn.
    expect(tabs[0].locator("#people")).to_have_text("1 person here")
    expect(tabs[0].locator("#people-list li")).to_have_text([re.compile(r"^\w+ \w+ \(you\) · 3 tabs$")])

    type_at_end(tabs[0], "Hello from tab 1.")
    for tab in tabs[1:]:
        expect(tab.locator("#editor")).to_have_value("Hello from tab 1.")
    type_at_end(tabs[1], " And tab 2.")
    expect(tabs[0].locator("#editor")).to_have_value("Hello from tab 1. And tab 2.")

    tabs[2].reload()
    expect(tabs[2].locator("#status")).to_have_text("live")
    expect(tabs[2].locator("#editor")).to_have_value("Hello from tab 1. And tab 2.")
    assert_no_errors(*tabs)
    context.close()


def test_three_tabs_over_two_workers_share_one_text(browser, start_worker):
    worker_a, worker_b = start_worker("a"), start_worker("b")
    context = browser.new_context()
    tabs = [
        open_editor(context, f"{worker_a.http_url}/d/spread/"),
        open_editor(context, f"{worker_b.http_url}/d/spread/"),
        open_editor(context, f"{worker_a.http_url}/d/spread/"),
    ]
    wait_for_connections(worker_a, "spread", 2)
    wait_for_connections(worker_b, "spread", 1)

    type_at_end(tabs[0], "Typed on worker A.")
    for tab in tabs[1:]:
        expect(tab.locator("#editor")).to_have_value("Typed on worker A.")
    type_at_end(tabs[1], " Typed on worker B.")
    expect(tabs[0].locator("#editor")).to_have_value("Typed on worker A. Typed on worker B.")
    expect(tabs[2].locator("#editor")).to_have_value("Typed on worker A. Typed on worker B.")

    tabs[1].reload()
    expect(tabs[1].locator("#status")).to_have_text("live")
    expect(tabs[1].locator("#editor")).to_have_value("Typed on worker A. Typed on worker B.")
    assert_no_errors(*tabs)
    context.close()
