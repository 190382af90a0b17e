"""Screenshots of the product, as a reader of the README should see it: the editor on a
desktop, on a phone and in dark mode (two people, carets, author colours), the documents
home and the share dialog. Written to a temporary directory by every run (checked to be pictures
of the right size); `scripts/screenshots` writes them to docs/screenshots/ instead."""

import os
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor, type_at_end
from tests.test_browser_share_dialog import create_user, open_dialog, share_with, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = [
    ("editor-desktop", 1280, 800, "light"),
    ("editor-phone", 390, 844, "light"),
    ("editor-dark", 1280, 800, "dark"),
]
TEXT = "Meeting notes\n\nAgenda: the launch, then questions.\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def shots_dir(tmp_path) -> Path:
    chosen = os.environ.get("EDITOR_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_screenshots_of_the_editor_and_the_home(browser, start_worker, shots_dir):
    worker = start_worker("a")
    url = f"{worker.http_url}/d/notes/"
    pages = []
    for name, width, height, scheme in SHOTS:
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        context.add_init_script("localStorage.setItem('editor.authorColours', '1')")
        context.add_init_script(f"localStorage.setItem('editor.name', {('Ann', 'Bo', 'Chen')[len(pages)]!r})")
        pages.append((name, width, height, open_editor(context, url)))
    first = pages[0][3]
    type_at_end(first, TEXT)
    expect(pages[1][3].locator("#editor")).to_have_value(TEXT)
    type_at_end(pages[1][3], "Ask about the date.")
    for _, _, _, page in pages:
        expect(page.locator("#editor")).to_have_value(TEXT + "Ask about the date.")
        expect(page.locator(".remote-caret")).to_have_count(2)
        expect(page.locator("#authors-list li")).to_have_count(2)
    for name, width, height, page in pages:
        page.mouse.move(0, 0)
        page.screenshot(path=shots_dir / f"{name}.png")
        assert png_size(shots_dir / f"{name}.png") == (width, height)

    home = pages[0][3].context.new_page()
    home.goto(f"{worker.http_url}/docs/")
    expect(home.locator("#home-opened li")).to_have_count(1)
    home.screenshot(path=shots_dir / "home.png")
    assert png_size(shots_dir / "home.png") == (1280, 800)
    assert_no_errors(*(page for *_, page in pages))


def test_screenshot_of_the_share_dialog(browser, start_worker, shots_dir):
    """Open over the owner's text: shared with one person, a view-only link just made."""
    worker = start_worker("a")
    create_user("ann")
    create_user("bo")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    sign_in(context, worker.http_url, "ann", "notes")
    page = open_editor(context, f"{worker.http_url}/d/notes/")
    type_at_end(page, TEXT)
    dialog = open_dialog(page)
    share_with(dialog, "bo")
    expect(dialog.locator(".share-messages")).to_be_visible()
    dialog.get_by_role("button", name="Create view-only link").click()
    expect(dialog.locator("#share-new-link-url")).to_be_focused()
    page.mouse.move(0, 0)
    page.screenshot(path=shots_dir / "share-dialog.png")
    assert png_size(shots_dir / "share-dialog.png") == (1280, 800)
    assert_no_errors(page)
