"""History in real Chromium: undo that takes back only your own edits, the timeslider, restore,
and authorship colours, with two people on two workers."""

import pytest
from playwright.sync_api import expect

from editor.wire.names import color_for
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


def hex_to_rgb(color: str) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def settled_revision(page) -> int:
    """The revision a tab is at once its own edits are all acknowledged."""
    # A function, not an expression: Playwright polls an expression with eval(), which the
    # page's CSP refuses whenever the first look (over the DevTools protocol) was not enough.
    page.wait_for_function("() => !window.editor.client.outstanding && !window.editor.client.buffer")
    return page.evaluate("window.editor.client.rev")


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


def test_the_timeslider_shows_an_old_revision_while_others_type_and_restores_it(browser, start_worker):
    alice, bob = two_people(browser, start_worker, "timeslider")
    assert color_for("Alice") != color_for("Bob")
    for page, name in ((alice, "Alice"), (bob, "Bob")):
        page.locator("#name").fill(name)
        page.locator("#name").press("Enter")
    expect(bob.locator("#people-list")).to_contain_text("Alice")
    expect(alice.locator("#people-list")).to_contain_text("Bob")
    type_at_end(alice, "first draft")
    expect(bob.locator("#editor")).to_have_value("first draft")
    old_rev = settled_revision(alice)
    type_at_end(bob, ", then more")
    expect(alice.locator("#editor")).to_have_value("first draft, then more")
    head = settled_revision(bob)

    alice.locator("#history-toggle").click()
    alice.locator("#history-rev").fill(str(old_rev))
    expect(alice.locator("#history-text")).to_have_text("first draft")
    expect(alice.locator("#history-label")).to_contain_text(f"revision {old_rev} of")
    # Two authors, two colours: what Alice typed, and Bob's at the head.
    alice.locator("#history-rev").fill(str(head))
    expect(alice.locator("#history-text")).to_have_text("first draft, then more")
    colours = alice.locator("#history-text .authored").evaluate_all(
        "pieces => [...new Set(pieces.map(p => getComputedStyle(p).borderBottomColor))]"
    )
    assert colours == [hex_to_rgb(color_for("Alice")), hex_to_rgb(color_for("Bob"))], colours

    # Bob keeps typing; Alice's old revision stays on her slider, the live text follows.
    alice.locator("#history-rev").fill(str(old_rev))
    expect(alice.locator("#history-text")).to_have_text("first draft")
    type_at_end(bob, "!")
    expect(alice.locator("#editor")).to_have_value("first draft, then more!")
    expect(alice.locator("#history-text")).to_have_text("first draft")

    # A named version: a mark, and a button back to it, in Bob's panel too.
    alice.locator("#version-name").fill("Before Bob")
    alice.locator("#version-save").click()
    expect(alice.locator("#history-versions")).to_have_text(f"Before Bob (revision {old_rev})")
    bob.locator("#history-toggle").click()
    bob.locator("#history-versions button").click()
    expect(bob.locator("#history-text")).to_have_text("first draft")

    alice.locator("#history-restore").click()
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("first draft")
    # The restore is Alice's own edit: undone like typing.
    alice.locator("#editor").focus()
    alice.keyboard.press("Control+z")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("first draft, then more!")
    assert_no_errors(alice, bob)


def named(page, name: str) -> None:
    page.locator("#name").fill(name)
    page.locator("#name").press("Enter")


def alice_and_bob_wrote_hello_world(browser, start_worker, slug: str):
    """Alice ("hello ") and Bob ("world") on two workers, named so their colours differ."""
    alice, bob = two_people(browser, start_worker, slug)
    assert color_for("Alice") != color_for("Bob")
    named(alice, "Alice")
    named(bob, "Bob")
    expect(alice.locator("#people-list")).to_contain_text("Bob")
    type_at_end(alice, "hello ")
    expect(bob.locator("#editor")).to_have_value("hello ")
    type_at_end(bob, "world")
    expect(alice.locator("#editor")).to_have_value("hello world")
    return alice, bob


def tinted(page) -> list[tuple[str, str]]:
    """The live text's pieces as the overlay tints them: (text, background colour's rgb).

    Found and read in one evaluation: Playwright's evaluate_all finds the elements and calls the
    function in two round trips, and a render in between (a caret's label fading) leaves
    detached pieces, whose computed colour is ""."""
    return [
        (text, colour.replace("rgba", "rgb").rsplit(",", 1)[0] + ")")
        for text, colour in page.evaluate(
            """() => [...document.querySelectorAll(".cursor-layer .authored")]
                .map(p => [p.textContent, getComputedStyle(p).backgroundColor])"""
        )
    ]


def test_author_colours_show_two_colours_on_the_live_text_and_follow_typing(browser, start_worker):
    """Author colours on the editable text: each person's characters in their colour, kept in
    step as they type (no question per keystroke), listed with their share; a late joiner
    sees the same."""
    alice, bob = alice_and_bob_wrote_hello_world(browser, start_worker, "author-colours")
    settled_revision(bob)

    assert alice.locator(".cursor-layer .authored").count() == 0, "off until asked for"
    alice.locator("#authors-toggle").click()
    expect(alice.locator("#authors-toggle")).to_have_attribute("aria-pressed", "true")
    alice_rgb, bob_rgb = hex_to_rgb(color_for("Alice")), hex_to_rgb(color_for("Bob"))
    expect(alice.locator(".cursor-layer .authored")).to_have_count(2)
    assert tinted(alice) == [("hello ", alice_rgb), ("world", bob_rgb)]
    expect(alice.locator("#authors-list li > span")).to_have_text(["Alice", "Bob"])

    # Typing goes on: the colours follow each revision, Alice's own pending edits included.
    alice.evaluate("""() => {
        const socket = window.editor.socket, send = socket.send.bind(socket);
        window.historyAsked = 0;
        socket.send = (frame) => { if (frame.type === "history") window.historyAsked++; return send(frame); };
    }""")
    type_at_end(bob, "!")
    type_at_end(alice, "?")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("hello world!?")
    expect(alice.locator(".cursor-layer .authored")).to_have_count(3)
    assert tinted(alice) == [("hello ", alice_rgb), ("world!", bob_rgb), ("?", alice_rgb)]
    expect(alice.locator("#authors-list li > span")).to_have_text(["Alice", "Bob"])
    assert alice.locator("#authors-list li").first.get_attribute("data-characters") == "7"
    assert alice.evaluate("window.historyAsked") == 0, "kept in step by the page, not asked again"

    # A late joiner on the other worker: the same colours, the choice remembered by Alice's tab.
    worker_b_url = bob.url
    carol = open_editor(browser.new_context(), worker_b_url)
    carol.locator("#authors-toggle").click()
    expect(carol.locator(".cursor-layer .authored")).to_have_count(3)
    assert tinted(carol) == tinted(alice)
    alice.reload()
    expect(alice.locator("#status")).to_have_text("live")
    expect(alice.locator(".cursor-layer .authored")).to_have_count(3)

    alice.locator("#authors-toggle").click()
    expect(alice.locator(".cursor-layer .authored")).to_have_count(0)
    expect(alice.locator("#authors")).to_be_hidden()
    assert_no_errors(alice, bob, carol)


def test_revert_one_author_from_the_page_keeps_the_others_text_and_is_undoable(browser, start_worker):
    alice, bob = alice_and_bob_wrote_hello_world(browser, start_worker, "revert-author")
    type_at_end(alice, "!")
    expect(bob.locator("#editor")).to_have_value("hello world!")
    settled_revision(alice)

    bob.locator("#authors-toggle").click()
    expect(bob.locator("#authors-list li > span")).to_have_text(["Alice", "Bob"])
    bob.get_by_role("button", name="Revert Alice's edits").click()
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("world")
    expect(bob.locator("#authors-list li > span")).to_have_text(["Bob"])

    # Bob's revert is Bob's edit: his Ctrl+Z brings Alice's text back.
    bob.locator("#editor").focus()
    bob.keyboard.press("Control+z")
    for page in (alice, bob):
        expect(page.locator("#editor")).to_have_value("hello world!")
    assert_no_errors(alice, bob)


def test_the_timeslider_steps_plays_and_shows_the_changes_between_two_revisions(browser, start_worker):
    alice, bob = two_people(browser, start_worker, "timeslider-diff")
    named(alice, "Alice")
    named(bob, "Bob")
    expect(alice.locator("#people-list")).to_contain_text("Bob")
    type_at_end(alice, "one")
    expect(bob.locator("#editor")).to_have_value("one")
    start = settled_revision(alice)
    type_at_end(bob, " two")
    expect(alice.locator("#editor")).to_have_value("one two")
    bob.locator("#editor").focus()
    bob.keyboard.press("Control+Home")
    for _ in range(4):
        bob.keyboard.press("Delete")  # "one " goes: Bob deletes Alice's word
    expect(alice.locator("#editor")).to_have_value("two")
    head = settled_revision(bob)

    alice.locator("#history-toggle").click()
    expect(alice.locator("#history-label")).to_have_text(f"revision {head} of {head}")
    alice.locator("#history-back").click()
    expect(alice.locator("#history-label")).to_have_text(f"revision {head - 1} of {head}")
    alice.locator("#history-forward").click()
    expect(alice.locator("#history-text")).to_have_text("two")

    # The changes since Alice's "one": Bob's insert and Bob's delete, in Bob's colour.
    alice.locator("#history-from").fill(str(start))
    alice.locator("#history-from").dispatch_event("change")
    expect(alice.locator("#history-label")).to_have_text(
        f"changes from revision {start} to {head} (of {head})"
    )
    expect(alice.locator("#history-text del")).to_have_text(["one "])
    expect(alice.locator("#history-text ins")).to_have_text(["two"])
    bob_rgb = hex_to_rgb(color_for("Bob"))
    colours = alice.locator("#history-text ins, #history-text del").evaluate_all(
        "pieces => pieces.map(p => getComputedStyle(p).getPropertyValue('--author-color').trim())"
    )
    assert [hex_to_rgb(colour) for colour in colours] == [bob_rgb, bob_rgb], colours
    alice.locator("#history-compare").uncheck()
    expect(alice.locator("#history-text")).to_have_text("two")
    expect(alice.locator("#history-text del")).to_have_count(0)

    # Play from the start: every revision in turn, up to the head, then it stops.
    shown = []
    alice.expose_function("seen", lambda text: shown.append(text))
    alice.evaluate("""() => new MutationObserver(() => window.seen(
        document.getElementById('history-text').textContent)).observe(
        document.getElementById('history-text'), {childList: true})""")
    alice.locator("#history-play").click()
    expect(alice.locator("#history-play")).to_have_text("Pause")
    expect(alice.locator("#history-play")).to_have_text("Play", timeout=20_000)
    expect(alice.locator("#history-label")).to_have_text(f"revision {head} of {head}")
    assert (shown[0], shown[-1]) == ("", "two"), shown
    assert "one two" in shown, shown
    assert len(shown) == head + 1, "every revision once"
    assert_no_errors(alice, bob)


def test_author_colours_name_text_written_through_the_api(browser, start_worker):
    """Text by someone the page never saw (a program's token, here) is asked about again, and
    shown under the token's user with their colour."""
    import httpx

    from editor.models import Document
    from tests.api.client import make_token, make_user

    secret = make_token(make_user("robot"), "write")
    Document.objects.create(slug="by-api", visibility="public")
    worker = start_worker("a")
    alice = open_editor(browser.new_context(), f"{worker.http_url}/d/by-api/")
    named(alice, "Alice")
    type_at_end(alice, "mine ")
    settled_revision(alice)
    alice.locator("#authors-toggle").click()
    expect(alice.locator("#authors-list li > span")).to_have_text(["Alice"])
    response = httpx.post(
        f"{worker.http_url}/api/v1/documents/by-api/append",
        json={"text": "theirs"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    response.raise_for_status()
    expect(alice.locator("#editor")).to_have_value("mine theirs")
    expect(alice.locator("#authors-list li > span")).to_have_text(["robot", "Alice"])
    assert tinted(alice)[-1] == ("theirs", hex_to_rgb(color_for("robot")))
    assert_no_errors(alice)
