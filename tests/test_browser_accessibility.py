"""axe-core in real Chromium: no serious or critical accessibility violation on the editor
(light and dark, desktop and phone, alone and with others), the documents home and the
sign-in page."""

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor, serious_accessibility_violations, type_at_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMES = ["light", "dark"]
SIZES = [(1280, 800), (390, 844)]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_editor_with_people_and_author_colours_has_no_serious_violations(
    browser, start_worker, scheme, width, height
):
    worker = start_worker("a")
    url = f"{worker.http_url}/d/axe-{scheme}-{width}/"
    page = open_editor(
        # Reduced motion: a caret label is shown whole, then not at all, never caught half faded.
        browser.new_context(
            viewport={"width": width, "height": height}, color_scheme=scheme, reduced_motion="reduce"
        ),
        url,
    )
    other = open_editor(browser.new_context(), url)
    type_at_end(other, "Written by someone else. ")
    expect(page.locator("#editor")).to_have_value("Written by someone else. ")
    type_at_end(page, "And by me.")
    expect(other.locator("#editor")).to_have_value("Written by someone else. And by me.")
    page.locator("#authors-toggle").click()
    expect(page.locator("#authors-list li")).to_have_count(2)
    page.locator("#history-toggle").click()
    expect(page.locator("#history")).to_be_visible()
    violations = serious_accessibility_violations(page)
    assert violations == [], "\n".join(violations)
    assert_no_errors(page, other)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_documents_home_and_the_sign_in_page_have_no_serious_violations(browser, start_worker, scheme):
    worker = start_worker("a")
    context = browser.new_context(color_scheme=scheme)
    open_editor(context, f"{worker.http_url}/d/visited/")
    page = context.new_page()
    for path in ("/docs/", "/accounts/login/", "/accounts/signup/"):
        page.goto(f"{worker.http_url}{path}")
        violations = serious_accessibility_violations(page)
        assert violations == [], f"{path}:\n" + "\n".join(violations)


def test_every_control_of_the_editor_is_reached_with_the_tab_key_alone(browser, start_worker):
    """Keyboard-only use: from the top of the page, Tab reaches each control in turn, the text
    included, and none traps the focus (Tab leaves the textarea: it does not insert a tab)."""
    worker = start_worker("a")
    page = open_editor(browser.new_context(), f"{worker.http_url}/d/keyboard/")
    page.locator("#history-toggle").click()  # its panel's controls too
    expect(page.locator("#history")).to_be_visible()
    page.locator("#documents-link").focus()  # the page's first control
    reached = ["documents-link"]
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        if focused == "BODY" or focused in reached:
            break
        reached.append(focused)
    controls = [
        "documents-link",
        "history-toggle",
        "authors-toggle",
        "name",
        "history-back",
        "history-play",
        "history-forward",
        "history-rev",
        "history-compare",
        "history-from",
        "history-restore",
        "version-name",
        "version-save",
        "editor",
        "download",
    ]
    assert [control for control in reached if control in controls] == controls, reached
    assert page.locator("#editor").input_value() == ""  # Tab moved on, typed nothing
    assert_no_errors(page)
