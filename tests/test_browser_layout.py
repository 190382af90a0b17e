"""The page as a person first meets it, in real Chromium, on a desktop and on a phone: ready
to type, no sideways scroll, the text's length, its download."""

import re

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor, type_at_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = [(1280, 800), (390, 844), (320, 640)]


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_page_fits_the_screen_and_is_ready_to_type(browser, start_worker, width, height):
    worker = start_worker("a")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = open_editor(context, f"{worker.http_url}/d/layout-{width}/")
    other = open_editor(browser.new_context(), f"{worker.http_url}/d/layout-{width}/")
    editor = page.locator("#editor")
    expect(editor).to_be_focused()  # typing needs no click first
    assert "Start typing" in editor.get_attribute("placeholder")
    expect(page.locator("#people-list li")).to_have_count(2)
    page.keyboard.type("two words")
    expect(other.locator("#editor")).to_have_value("two words")

    scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll[0] <= scroll[1], f"sideways scroll at {width} px: {scroll}"
    for part in ("#status", "#people", "#history-toggle", "#editor", "#people-list", "#download"):
        box = page.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= 0, (part, box)
        assert box["x"] + box["width"] <= width + 0.5, (part, box)
    assert_no_errors(page, other)


def test_the_footer_counts_the_text_and_downloads_it(browser, start_worker):
    worker = start_worker("a")
    page = open_editor(browser.new_context(accept_downloads=True), f"{worker.http_url}/d/counted/")
    type_at_end(page, "one two 😀\nthree")
    expect(page.locator("#counts")).to_have_text("15 characters, 4 words")
    with page.expect_download() as download:
        page.locator("#download").click()
    assert download.value.suggested_filename == "counted.txt"
    with open(download.value.path(), encoding="utf-8") as saved:
        assert saved.read() == "one two 😀\nthree"
    assert_no_errors(page)


@pytest.mark.parametrize(("width", "height"), SIZES[:2], ids=[f"{w}x{h}" for w, h in SIZES[:2]])
def test_the_documents_home_lists_and_creates_documents(browser, start_worker, width, height):
    worker = start_worker("a")
    context = browser.new_context(viewport={"width": width, "height": height})
    home = context.new_page()
    home.goto(f"{worker.http_url}/docs/")
    expect(home.locator("#home-opened")).to_contain_text("None yet.")
    home.locator("#new-name").fill(f"plans-{width}")
    home.locator(".home-new button").click()
    expect(home).to_have_url(f"{worker.http_url}/d/plans-{width}/")
    expect(home.locator("#status")).to_have_text("live")
    home.keyboard.type("kept")
    # Another tab of the same browser: the home lists it, with the one person on it now.
    other = context.new_page()
    other.goto(f"{worker.http_url}/docs/")
    row = other.locator("#home-opened li", has_text=f"plans-{width}")
    expect(row.locator(".home-people")).to_have_text("1 here now")
    expect(other.locator("#home-public li")).to_have_count(1)
    scroll = other.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll[0] <= scroll[1], f"sideways scroll at {width} px: {scroll}"
    # A new document without a name: a readable one, and the editor's link back to the home.
    other.locator(".home-new button").click()
    expect(other).to_have_url(re.compile(rf"{worker.http_url}/d/[a-z]+-[a-z]+-\d{{4}}/$"))
    # A document is made when it is first opened over the socket: the home lists it from then.
    expect(other.locator("#status")).to_have_text("live")
    other.locator("#documents-link").click()
    expect(other.locator("#home-opened li")).to_have_count(2)
    other.locator("#search").fill(f"PLANS-{width}")
    other.locator(".home-search button").click()
    expect(other.locator("#home-found li")).to_have_count(1)
    other.locator("#home-found a").click()
    expect(other.locator("#editor")).to_have_value("kept")
