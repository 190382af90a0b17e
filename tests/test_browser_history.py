"""History in real Chromium: undo that takes back only your own edits, the timeslider, restore,
and authorship colours, with two people on two workers."""

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor, type_at_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def two_people(browser, start_worker, slug: str):
    worker_a, worker_b = start_worker("a"), start_worker("b")
    alice = open_editor(browser.new_context(), f"{worker_a.http_url}/d/{slug}/")
    bob = open_editor(browser.new_context(), f"{worker_b.http_url}/d/{slug}/")
    return alice, bob


def caret(page) -> int:
    return page.evaluate("document.getElementById('editor').selectionStart")


def browser_command(page, command: str) -> None:
    """Run one of Chromium's editing commands on the focused element, as a menu would."""
    session = page.context.new_cdp_session(page)
    session.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "F24", "commands": [command]})
    session.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "F24"})
    session.detach()


def test_undo_takes_back_only_your_own_typing_after_a_collaborators_edit(browser, start_worker):
    alice, bob = two_people(browser, start_worker, "undo-mine")
    type_at_end(alice, "hello ")
    expect(bob.locator("#editor")).to_have_value("hello ")
    type_at_end(bob, "world")
    expect(alice.locator("#editor")).to_have_value("hello world")

    alice.locator("#editor").focus()
    alice.keyboard.press("Control+z")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("world")
    assert caret(alice) == 0, "the caret goes where the undone change was"

    alice.keyboard.press("Control+Shift+z")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("hello world")
    assert caret(alice) == len("hello ")

    # Nothing of Alice's is left to undo: Bob's typing stays.
    alice.keyboard.press("Control+z")
    expect(alice.locator("#editor")).to_have_value("world")
    alice.keyboard.press("Control+z")
    alice.keyboard.press("Control+y")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("hello world")
    assert alice.evaluate("window.editor.undo.canRedo") is False
    assert_no_errors(alice, bob)


def test_the_browsers_own_undo_command_comes_to_the_editor(browser, start_worker):
    """The browser's own undo (its Edit or context menu) fires beforeinput historyUndo where
    it has something of its own to undo: the editor's undo answers it, and the change
    reaches the other tab like typing."""
    alice, bob = two_people(browser, start_worker, "undo-menu")
    type_at_end(alice, "mine")
    expect(bob.locator("#editor")).to_have_value("mine")
    # The browser's undo command, as the Edit menu runs it (execCommand fires no beforeinput).
    browser_command(alice, "undo")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("")
    assert alice.evaluate("window.editor.undo.canRedo") is True, "undone by the editor, not the browser"
    alice.keyboard.press("Control+Shift+z")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("mine")
    assert_no_errors(alice, bob)
