"""Presence and the operator's admin in real Chromium."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.admin_http import OPERATOR_PASSWORD, create_operator
from tests.pages import assert_no_errors, open_editor
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_as(browser, url: str, name: str) -> Page:
    """A tab of its own browser profile, whose remembered name is ``name``."""
    context = browser.new_context()
    context.add_init_script(f"localStorage.setItem('editor.name', {name!r})")
    return open_editor(context, url)


def caret_of(page: Page, session: str):
    return page.locator(f'.remote-caret[data-session="{session}"]')


def session_of(page: Page) -> str:
    return page.evaluate("window.editor.client.session")


def test_two_people_see_each_other_and_each_others_caret_move(browser, start_worker):
    worker_a, worker_b = start_worker("a"), start_worker("b")
    alice = open_as(browser, f"{worker_a.http_url}/d/together/", "Alice")
    bob = open_as(browser, f"{worker_b.http_url}/d/together/", "Bob")
    expect(alice.locator("#name")).to_have_value("Alice")
    expect(alice.locator("#people-list li")).to_have_text(["Alice (you)", "Bob"])
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)", "Alice"])

    alice.locator("#editor").focus()
    alice.keyboard.type("The quick brown fox")
    expect(bob.locator("#editor")).to_have_value("The quick brown fox")
    alice_caret = caret_of(bob, session_of(alice))
    expect(alice_caret).to_have_attribute("data-position", "19")
    expect(alice_caret).to_contain_text("Alice")
    before = wait_until(alice_caret.bounding_box, timeout=5, what="Alice's caret to be drawn")
    alice.keyboard.press("Home")
    expect(alice_caret).to_have_attribute("data-position", "0")
    wait_until(
        lambda: (box := alice_caret.bounding_box()) and box["x"] < before["x"],
        timeout=5,
        what="the caret to be drawn where it now is",
    )

    # Bob types before Alice's caret: Bob's edit moves it, on both screens.
    bob.locator("#editor").focus()
    bob.keyboard.press("Home")
    bob.keyboard.type(">> ")
    expect(alice.locator("#editor")).to_have_value(">> The quick brown fox")
    expect(caret_of(alice, session_of(bob))).to_have_attribute("data-position", "3")
    expect(alice_caret).to_have_attribute("data-position", "0")

    # A new name is seen by the other; leaving removes the person.
    alice.locator("#name").fill("Alice Liddell")
    alice.locator("#name").press("Enter")
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)", "Alice Liddell"])
    alice.context.close()
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)"])
    expect(bob.locator(".remote-caret")).to_have_count(0)
    assert_no_errors(bob)


def log_in_to_admin(browser, base_url: str) -> Page:
    create_operator()
    admin = browser.new_context().new_page()
    admin.goto(f"{base_url}/admin/")
    admin.fill("#id_username", "operator")
    admin.fill("#id_password", OPERATOR_PASSWORD)
    admin.click("input[type=submit]")
    expect(admin.locator("#user-tools")).to_contain_text("operator")
    return admin


def test_an_operator_inspects_and_acts_in_the_admin(browser, start_worker):
    worker = start_worker("a")
    alice = open_as(browser, f"{worker.http_url}/d/managed/", "Alice")
    bob = open_as(browser, f"{worker.http_url}/d/managed/", "Bob")
    alice.locator("#editor").focus()
    alice.keyboard.type("Some text.")
    expect(bob.locator("#editor")).to_have_value("Some text.")
    admin = log_in_to_admin(browser, worker.http_url)

    # Documents: the list, then the document with its live sessions and history.
    admin.goto(f"{worker.http_url}/admin/editor/document/")
    row = admin.locator("#result_list tr", has_text="managed")
    expect(row.locator(".field-people_now")).to_have_text("2")
    row.locator("a", has_text="managed").click()
    expect(admin.locator("#sessions-group")).to_contain_text("Alice")
    expect(admin.locator("#sessions-group")).to_contain_text("Bob")
    expect(admin.locator(".field-recent_operations tbody tr")).not_to_have_count(0)

    # Make it read-only: open pages say so and stop taking edits; then writable again.
    admin.goto(f"{worker.http_url}/admin/editor/document/")
    admin.locator("#result_list tr", has_text="managed").locator("input.action-select").check()
    admin.select_option("select[name=action]", "make_read_only")
    admin.click("button[name=index]")
    expect(admin.locator(".messagelist")).to_contain_text("1 document(s) made read-only")
    expect(alice.locator("#read-only")).to_be_visible()
    expect(alice.locator("#editor")).not_to_be_editable()
    admin.locator("#result_list tr", has_text="managed").locator("input.action-select").check()
    admin.select_option("select[name=action]", "make_writable")
    admin.click("button[name=index]")
    expect(alice.locator("#read-only")).to_be_hidden()
    expect(alice.locator("#editor")).to_be_editable()

    # Sessions: filter to the live ones, find Bob's and disconnect him with a reason.
    admin.goto(f"{worker.http_url}/admin/editor/editingsession/?active=yes&q=Bob")
    expect(admin.locator("#result_list tbody tr")).to_have_count(1)
    admin.locator("#result_list tbody tr").first.locator("a").first.click()
    expect(admin.locator(".field-worker")).to_contain_text(re.compile(r"\S+:\d+"))
    admin.go_back()
    admin.locator("#result_list tbody tr").first.locator("input.action-select").check()
    admin.select_option("select[name=action]", "disconnect")
    admin.fill("input[name=reason]", "Taking a break")
    admin.click("button[name=index]")
    expect(bob.locator("#message")).to_contain_text("Taking a break")
    expect(bob.locator("#status")).to_have_text("disconnected")
    expect(alice.locator("#people-list li")).to_have_text(["Alice (you)"])
    expect(alice.locator("#status")).to_have_text("live")
    # Bob's page says so: the text stays, read-only, nobody else shown; Reconnect brings him back.
    expect(bob.locator("#closed")).to_be_visible()
    expect(bob.locator("#closed-reason")).to_contain_text("Taking a break")
    expect(bob.locator("#editor")).not_to_be_editable()
    expect(bob.locator("#editor")).to_have_value("Some text.")
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)"])
    expect(bob.locator(".remote-caret")).to_have_count(0)
    bob.locator("#reconnect").click()
    expect(bob.locator("#status")).to_have_text("live")
    expect(bob.locator("#closed")).to_be_hidden()
    expect(bob.locator("#editor")).to_be_editable()
    bob.keyboard.press("Control+End")
    bob.keyboard.type(" Back.")
    expect(alice.locator("#editor")).to_have_value("Some text. Back.")
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)", "Alice"])
    assert_no_errors(alice)


def label_opacity(page: Page, session: str) -> float:
    """The label's opacity now (read in one go: the overlay is redrawn at every change)."""
    return page.evaluate(
        """session => {
            const caret = `.remote-caret[data-session="${session}"]`;
            const label = document.querySelector(`${caret} .remote-caret-label`);
            return Number(getComputedStyle(label).opacity);
        }""",
        session,
    )


def test_a_carets_name_shows_while_its_person_moves_then_fades_and_shows_on_hover(browser, start_worker):
    worker = start_worker("a")
    alice = open_as(browser, f"{worker.http_url}/d/labels/", "Alice")
    bob = open_as(browser, f"{worker.http_url}/d/labels/", "Bob")
    bob.keyboard.type("a line of text")
    expect(alice.locator("#editor")).to_have_value("a line of text")
    bob_session = session_of(bob)
    expect(caret_of(alice, bob_session)).to_have_attribute("data-position", "14")
    assert label_opacity(alice, bob_session) == 1.0, "shown while Bob types"
    # Alice typing elsewhere redraws everything: Bob's label goes on fading, not shown again.
    wait_until(lambda: label_opacity(alice, bob_session) == 0.0, timeout=6, what="Bob's label to fade")
    alice.keyboard.press("Control+Home")
    alice.keyboard.type(">")
    expect(bob.locator("#editor")).to_have_value(">a line of text")
    assert label_opacity(alice, bob_session) == 0.0
    box = caret_of(alice, bob_session).bounding_box()
    alice.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # over the caret
    wait_until(lambda: label_opacity(alice, bob_session) == 1.0, timeout=2, what="the label on hover")
    # Bob moves: shown again.
    alice.mouse.move(0, 0)
    bob.keyboard.press("Home")
    expect(caret_of(alice, bob_session)).to_have_attribute("data-position", "0")
    assert label_opacity(alice, bob_session) > 0.9
    assert_no_errors(alice, bob)
