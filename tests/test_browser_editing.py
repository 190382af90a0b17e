"""Concurrent editing in real Chromium: typing at once, typing offline, emoji."""

import pytest
from playwright.sync_api import expect

from tests.pages import assert_no_errors, open_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def two_people_on_two_workers(browser, start_worker, slug: str):
    """Two people (browser profiles of their own) on one document, each on a worker of their own."""
    worker_a, worker_b = start_worker("a"), start_worker("b")
    first = open_editor(browser.new_context(), f"{worker_a.http_url}/d/{slug}/")
    second = open_editor(browser.new_context(), f"{worker_b.http_url}/d/{slug}/")
    return worker_a, first, second


def test_two_people_typing_at_once_in_different_places_lose_nothing(browser, start_worker):
    _worker_a, alice, bob = two_people_on_two_workers(browser, start_worker, "duet")
    alice.locator("#editor").focus()
    alice.keyboard.type("middle")
    expect(bob.locator("#editor")).to_have_value("middle")
    alice.keyboard.press("Control+Home")
    bob.locator("#editor").focus()
    bob.keyboard.press("Control+End")
    # Keystrokes interleave: each tab sends while the other's edits are in flight.
    for n in range(40):
        alice.keyboard.type("ab"[n % 2])
        bob.keyboard.type("xy"[n % 2])
    expected = "ab" * 20 + "middle" + "xy" * 20
    expect(alice.locator("#editor")).to_have_value(expected)
    expect(bob.locator("#editor")).to_have_value(expected)
    # Neither caret was pushed around by the other's typing.
    assert alice.evaluate("document.getElementById('editor').selectionStart") == 40
    assert bob.evaluate("document.getElementById('editor').selectionStart") == len(expected)
    assert_no_errors(alice, bob)


def test_typing_while_the_socket_is_cut_arrives_after_reconnecting(browser, start_worker):
    worker_a, writer, reader = two_people_on_two_workers(browser, start_worker, "offline")
    writer.locator("#editor").focus()
    writer.keyboard.type("online. ")
    expect(reader.locator("#editor")).to_have_value("online. ")

    worker_a.kill()  # the writer's server dies: its socket is cut
    expect(writer.locator("#status")).to_have_text("reconnecting")
    writer.keyboard.type("typed while cut off.")
    expect(reader.locator("#editor")).to_have_value("online. ")
    expect(writer.locator("#unsent")).to_be_visible()  # the page says it is kept

    start_worker("a-again", port=worker_a.port)
    expect(writer.locator("#status")).to_have_text("live", timeout=20_000)
    expect(reader.locator("#editor")).to_have_value("online. typed while cut off.")
    expect(writer.locator("#editor")).to_have_value("online. typed while cut off.")
    expect(writer.locator("#unsent")).to_be_hidden()
    # The browser logs the refused reconnection attempts (WebSocket, then the fallback) as
    # errors; the page threw none.
    assert [e for e in writer.errors if "WebSocket" not in e and "/fallback/" not in e] == []
    assert_no_errors(reader)


def test_emoji_and_other_scripts_arrive_intact(browser, start_worker):
    _worker_a, writer, reader = two_people_on_two_workers(browser, start_worker, "unicode")
    text = "smile 😀, thumbs 👍🏽, family 👨‍👩‍👧, café, 漢字, e\u0301."
    writer.locator("#editor").focus()
    writer.keyboard.type(text)
    expect(reader.locator("#editor")).to_have_value(text)
    # Typing after an emoji lands after it, in both tabs.
    writer.keyboard.press("Control+Home")
    for _ in range(7):
        writer.keyboard.press("ArrowRight")  # "smile 😀" is 7 characters to the user
    writer.keyboard.type("!")
    expect(reader.locator("#editor")).to_have_value(text.replace("😀", "😀!", 1))
    assert_no_errors(writer, reader)
