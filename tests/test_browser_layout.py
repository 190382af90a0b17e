"""The page as a person first meets it, in real Chromium, on a desktop and on a phone: ready
to type, no sideways scroll, the text's length, its download."""

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
