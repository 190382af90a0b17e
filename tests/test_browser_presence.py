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


def test_one_persons_tabs_are_one_entry_with_every_caret_and_the_admin_tells_them_apart(
    browser, start_worker
):
    """Issue 17: the README's three tabs of one browser were three "Eager Gecko"s alike, in the
    page and in the admin (where the wrong one got disconnected)."""
    worker = start_worker("a")
    url = f"{worker.http_url}/d/tabs/"
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('editor.name', 'Eager Gecko')")
    tabs = [open_editor(context, url) for _ in range(3)]
    bob = open_as(browser, url, "Bob")
    for index, tab in enumerate(tabs):
        tab.locator("#editor").focus()
        tab.keyboard.press("Control+End")
        tab.keyboard.type(f"tab {index}. ")
        expect(bob.locator("#editor")).to_have_value(re.compile(f"tab {index}. "))
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)", "Eager Gecko · 3 tabs"])
    expect(bob.locator("#people")).to_have_text("2 people here")
    for tab in tabs:  # each tab's caret is still drawn
        expect(caret_of(bob, session_of(tab))).to_have_count(1)
    expect(tabs[1].locator("#people-list li")).to_have_text(["Eager Gecko (you) · 3 tabs", "Bob"])
    expect(caret_of(tabs[1], session_of(tabs[0]))).to_have_count(1)  # its own other tabs' carets too

    admin = log_in_to_admin(browser, worker.http_url)
    admin.goto(f"{worker.http_url}/admin/editor/editingsession/?active=yes&q=Eager")
    rows = admin.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.locator("td.field-tab_of")).to_have_text(
        ["tab 3 of 3", "tab 2 of 3", "tab 1 of 3"]  # newest first, as the list is ordered
    )
    expect(rows.locator("td.field-browser").first).to_have_text(
        re.compile(r"^(Headless )?Chrome \d+ on Linux$")
    )

    # Closing one tab: the entry counts two.
    tabs[2].close()
    expect(bob.locator("#people-list li")).to_have_text(["Bob (you)", "Eager Gecko · 2 tabs"])
    assert_no_errors(*tabs[:2], bob)


def test_on_a_phone_the_people_are_coloured_initials_that_open_into_names(browser, start_worker):
    worker = start_worker("a")
    url = f"{worker.http_url}/d/phone-people/"
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script("localStorage.setItem('editor.name', 'Eager Gecko')")
    phone = open_editor(context, url)
    open_as(browser, url, "Ada Lovelace")
    items = phone.locator("#people-list li")
    expect(items).to_have_count(2)
    initials = phone.evaluate(
        """[...document.querySelectorAll('#people-list li')].map((item) => {
            const mark = getComputedStyle(item, '::before');
            return [mark.content, mark.color, mark.backgroundColor];
        })"""
    )
    assert [content for content, *_ in initials] == ['"EG"', '"AL"']
    assert all(ink in ("rgb(0, 0, 0)", "rgb(255, 255, 255)") for _, ink, _ in initials)
    names = phone.locator("#people-list .person-name")
    widest_name = """Math.max(...[...document.querySelectorAll('#people-list .person-name')]
        .map((name) => name.getBoundingClientRect().width))"""
    assert phone.evaluate(widest_name) <= 1  # collapsed: not shown
    expect(names).to_have_text(["Eager Gecko (you)", "Ada Lovelace"])  # but there for screen readers

    toggle = phone.locator("#people-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    phone.keyboard.press("Enter")  # keyboard alone opens it
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text("Hide names")
    assert phone.evaluate(widest_name) > 50
    scroll = phone.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll[0] <= scroll[1], scroll
    items.first.click()  # a tap on the list closes it again
    expect(toggle).to_have_attribute("aria-expanded", "false")

    desktop = open_editor(browser.new_context(), url)
    expect(desktop.locator("#people-toggle")).to_be_hidden()  # a wide screen lists the names
    assert desktop.evaluate(widest_name) > 50
    assert_no_errors(phone, desktop)
