"""The share dialog in real Chromium: the sharing page's forms in a <dialog> over the editor
(share.js), its answers shown there, by mouse and by keyboard, on a desktop and a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.admin_http import OPERATOR_PASSWORD
from tests.documents import new_document
from tests.pages import assert_no_errors, open_editor, serious_accessibility_violations, type_at_end

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A <dialog> that fails to fill would still be "visible": each test waits for the content too.
LOADED = "#share-document-url"
IN_DIALOG_OR_BROWSER = """
document.activeElement === document.body
|| document.getElementById("share-dialog").contains(document.activeElement)
"""


def create_user(username: str):
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    password = make_password(OPERATOR_PASSWORD, hasher="pbkdf2_sha256")  # as the worker's settings hash
    return User.objects.create(username=username, password=password)


def sign_in(context: BrowserContext, base_url: str, username: str, slug: str) -> None:
    """Sign in through the login page, which then opens (so creates, theirs) the document."""
    page = context.new_page()
    page.goto(f"{base_url}/accounts/login/?next=/d/{slug}/")
    page.fill("#id_username", username)
    page.fill("#id_password", OPERATOR_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/d/{slug}/")
    page.close()


def owner_editor(browser, worker, slug: str = "lesson", **context_options) -> Page:
    """The teacher, signed in, on their own document's editor."""
    create_user("teacher")
    context = browser.new_context(**context_options)
    sign_in(context, worker.http_url, "teacher", slug)
    return open_editor(context, f"{worker.http_url}/d/{slug}/")


def open_dialog(page: Page) -> Locator:
    page.locator("#share").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Sharing "))
    expect(dialog).to_be_visible()
    expect(dialog.locator(LOADED)).to_be_visible()
    return dialog


def share_with(dialog: Locator, username: str, role: str = "editor") -> None:
    dialog.locator("#share-username").fill(username)
    dialog.locator("#share-role").select_option(role)
    dialog.get_by_role("button", name="Share", exact=True).click()


def test_a_view_only_link_made_in_the_dialog_opens_read_only_live_until_revoked(browser, start_worker):
    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    owner.locator("#editor").focus()
    owner.keyboard.type("Lesson one.")

    dialog = open_dialog(owner)
    assert owner.url == f"{worker.http_url}/d/lesson/"  # the editor stays: no navigation
    expect(dialog.get_by_role("heading", name="Sharing lesson")).to_be_visible()
    expect(dialog.get_by_role("link", name="Back to the document")).to_have_count(0)
    dialog.get_by_role("button", name="Create view-only link").click()
    new_link = dialog.locator("#share-new-link-url")
    expect(new_link).to_be_focused()  # what the answer has to say
    link = new_link.input_value()
    assert link.startswith(f"{worker.http_url}/links/")

    pupil = open_editor(browser.new_context(), link)
    assert pupil.url == f"{worker.http_url}/d/lesson/"
    expect(pupil.locator("#editor")).to_have_value("Lesson one.")
    expect(pupil.locator("#read-only")).to_have_text("You can view this document, not edit it.")
    expect(pupil.locator("#editor")).to_have_js_property("readOnly", True)
    owner.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    type_at_end(owner, " Read this.")
    expect(pupil.locator("#editor")).to_have_value("Lesson one. Read this.")

    # Revoked from the dialog: the pupil is told, and sees the text no more.
    dialog = open_dialog(owner)
    expect(dialog.locator("#share-new-link-url")).to_have_count(0)  # shown once, then never
    dialog.get_by_role("button", name=re.compile(r"^Revoke the viewer link")).click()
    expect(dialog.locator(".share-messages")).to_contain_text("is revoked: it opens nothing now.")
    expect(dialog.locator(".share-messages")).to_be_focused()
    expect(dialog.get_by_text("No link opens it.")).to_be_visible()
    expect(pupil.locator("#message")).to_contain_text("You no longer have access to this document")
    expect(pupil.locator("#editor")).to_have_value("")
    assert_no_errors(owner)


def test_sharing_with_someone_and_changing_their_role_in_the_dialog(browser, start_worker):
    from editor.models import Share

    worker = start_worker("a")
    create_user("sam")
    owner = owner_editor(browser, worker)
    dialog = open_dialog(owner)
    share_with(dialog, "sam", "editor")
    expect(dialog.locator(".share-messages")).to_have_text("sam is now an editor of this document.")
    expect(dialog.locator(".share-messages")).to_be_focused()
    row = dialog.locator(".share-table tr", has=owner.get_by_role("rowheader", name="sam"))
    expect(row.get_by_label("Role of sam")).to_have_value("editor")
    assert Share.objects.get(document__slug="lesson", user__username="sam").role == "editor"

    row.get_by_label("Role of sam").select_option("viewer")
    row.get_by_role("button", name="Change the role of sam").click()
    expect(dialog.locator(".share-messages")).to_have_text("sam is now a viewer of this document.")
    expect(dialog.get_by_label("Role of sam")).to_have_value("viewer")
    assert Share.objects.get(document__slug="lesson", user__username="sam").role == "viewer"

    dialog.get_by_role("button", name="Remove sam").click()
    expect(dialog.locator(".share-messages")).to_have_text("The document is no longer shared with sam.")
    expect(dialog.get_by_text("It is shared with no one.")).to_be_visible()
    assert not Share.objects.filter(document__slug="lesson").exists()
    assert_no_errors(owner)


def test_an_unknown_user_name_is_refused_inside_the_dialog(browser, start_worker):
    from editor.models import Share

    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    dialog = open_dialog(owner)
    share_with(dialog, "nobody")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#share-username-error")).to_have_text("No one here has the user name “nobody”.")
    expect(dialog.get_by_role("alert")).to_have_text("No one here has the user name “nobody”.")
    username = dialog.locator("#share-username")
    expect(username).to_be_focused()  # the refused field, which its error describes
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_value("nobody")  # kept, to correct
    assert not Share.objects.exists()
    assert_no_errors(owner)


def test_an_answer_without_the_sharing_page_is_an_error_in_the_dialog(browser, start_worker):
    """A failing server (here a 500 put in its place): said in the dialog, its forms kept."""
    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    dialog = open_dialog(owner)

    def fail_posts(route):
        if route.request.method == "POST":
            route.fulfill(status=500, content_type="text/plain", body="boom")
        else:
            route.continue_()

    owner.route(f"{worker.http_url}/d/lesson/share/", fail_posts)
    dialog.locator("#share-visibility + button").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("That did not work (error 500): try again.")
    expect(alert).to_be_focused()
    expect(alert.get_by_role("link", name="Open the sharing page")).to_have_attribute(
        "href", f"{worker.http_url}/d/lesson/share/"
    )
    expect(dialog.locator("#share-visibility")).to_be_visible()  # to try again
    # Chromium logs the failed answer itself; nothing else went wrong.
    owner.errors = [error for error in owner.errors if "status of 500" not in error]
    assert_no_errors(owner)


def test_the_visibility_saves_from_the_dialog(browser, start_worker):
    from editor.models import Document

    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    dialog = open_dialog(owner)
    dialog.get_by_label("Who can open it without a share or a link").select_option("view-only")
    dialog.locator("#share-visibility + button").click()
    expect(dialog.locator(".share-messages")).to_have_text("The document is now view-only for everyone.")
    expect(dialog.get_by_label("Who can open it without a share or a link")).to_have_value("view-only")
    assert Document.objects.get(slug="lesson").visibility == "view-only"
    assert_no_errors(owner)


def test_the_dialog_by_keyboard_alone(browser, start_worker):
    """Enter on the Share link opens it with focus inside, Tab moves through its controls and
    stays in it (modal), Escape closes it and focus is back on the link."""
    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    share = owner.locator("#share")
    share.focus()
    owner.keyboard.press("Enter")
    dialog = owner.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#share-document-url")).to_be_focused()  # the first control
    owner.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Copy link")).to_be_focused()
    owner.keyboard.press("Tab")
    expect(dialog.locator("#share-visibility")).to_be_focused()
    # Round its controls and never to the page under it (past the last one, the browser's own
    # controls may have focus, as for any modal dialog, then the dialog's first again).
    for _ in range(12):
        owner.keyboard.press("Tab")
        assert owner.evaluate(IN_DIALOG_OR_BROWSER)
    owner.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(share).to_be_focused()
    # Open again by keyboard, closed by its Close button: focus back on the link too.
    owner.keyboard.press("Enter")
    expect(dialog.locator("#share-document-url")).to_be_focused()
    dialog.get_by_role("button", name="Close").focus()
    owner.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(share).to_be_focused()
    assert_no_errors(owner)


def test_the_dialog_fits_a_phone_with_nothing_to_scroll_sideways(browser, start_worker):
    worker = start_worker("a")
    create_user("samantha-with-a-rather-long-user-name")
    owner = owner_editor(
        browser, worker, slug="a-document-with-a-long-name", viewport={"width": 390, "height": 844}
    )
    dialog = open_dialog(owner)
    share_with(dialog, "samantha-with-a-rather-long-user-name")
    expect(dialog.locator(".share-messages")).to_be_visible()
    dialog.get_by_role("button", name="Create edit link").click()
    expect(dialog.locator("#share-new-link-url")).to_be_visible()
    expect(dialog.locator(".share-table")).to_have_count(2)  # people and links: the widest it gets
    box = dialog.bounding_box()
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= 390, box
    assert box["height"] <= 844, box
    assert owner.evaluate("document.documentElement.scrollWidth") <= 390
    widths = dialog.evaluate("d => [d.scrollWidth, d.clientWidth]")
    assert widths[0] <= widths[1], widths
    body = dialog.locator(".share-dialog-body")
    body_widths = body.evaluate("b => [b.scrollWidth, b.clientWidth]")
    assert body_widths[0] <= body_widths[1], body_widths
    # Taller than the screen: it scrolls inside, its Close button staying in view.
    assert body.evaluate("b => b.scrollHeight > b.clientHeight")
    body.evaluate("b => b.scrollTo(0, b.scrollHeight)")
    expect(dialog.get_by_role("button", name="Close")).to_be_in_viewport()
    expect(dialog.get_by_role("button", name="Create edit link")).to_be_in_viewport()
    assert_no_errors(owner)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_open_dialog_has_no_serious_accessibility_violations(browser, start_worker, scheme):
    """axe-core over the dialog at its fullest (a share, a new link, an error): contrast and names."""
    worker = start_worker("a")
    create_user("sam")
    owner = owner_editor(browser, worker, color_scheme=scheme)
    dialog = open_dialog(owner)
    share_with(dialog, "sam")
    expect(dialog.locator(".share-messages")).to_be_visible()
    dialog.get_by_role("button", name="Create view-only link").click()
    expect(dialog.locator("#share-new-link-url")).to_be_focused()
    share_with(dialog, "nobody")
    expect(dialog.locator("#share-username-error")).to_be_visible()
    assert serious_accessibility_violations(owner) == []
    assert_no_errors(owner)


def test_copy_link_puts_the_documents_address_on_the_clipboard(browser, start_worker):
    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    owner.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=worker.http_url)
    dialog = open_dialog(owner)
    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.locator("#share-document-url-copied")).to_have_text("Copied")
    expect(dialog.locator("#share-document-url-copied")).to_have_attribute("role", "status")
    assert owner.evaluate("navigator.clipboard.readText()") == f"{worker.http_url}/d/lesson/"

    dialog.get_by_role("button", name="Create view-only link").click()
    dialog.get_by_role("button", name="Copy the new link").click()
    expect(dialog.locator("#share-new-link-copied")).to_have_text("Copied")
    assert (
        owner.evaluate("navigator.clipboard.readText()")
        == dialog.locator("#share-new-link-url").input_value()
    )
    assert_no_errors(owner)


def test_where_the_clipboard_is_refused_copy_link_selects_the_address(browser, start_worker):
    worker = start_worker("a")
    refusing = (
        "navigator.clipboard.writeText = () => Promise.reject(new DOMException('refused', 'NotAllowedError'))"
    )
    owner = owner_editor(browser, worker)
    owner.add_init_script(refusing)
    owner.reload()
    expect(owner.locator("#status")).to_have_text("live")
    dialog = open_dialog(owner)
    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.locator("#share-document-url-copied")).to_have_text("Selected: press Ctrl+C to copy")
    address = dialog.locator("#share-document-url")
    expect(address).to_be_focused()
    assert (
        address.evaluate("i => i.value.slice(i.selectionStart, i.selectionEnd)")
        == f"{worker.http_url}/d/lesson/"
    )
    assert_no_errors(owner)


def test_without_javascript_the_share_link_opens_the_sharing_page(browser, start_worker):
    """Without JavaScript the addresses are there to copy by hand."""
    worker = start_worker("a")
    teacher = create_user("teacher")
    document = new_document("lesson")  # a page without its script creates none
    document.owner = teacher
    document.save(update_fields=["owner"])
    context = browser.new_context(java_script_enabled=False)
    sign_in(context, worker.http_url, "teacher", "lesson")
    page = context.new_page()
    page.goto(f"{worker.http_url}/d/lesson/")
    page.locator("#share").click()
    page.wait_for_url(f"{worker.http_url}/d/lesson/share/")
    expect(page.get_by_role("heading", name="Sharing lesson")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the document")).to_be_visible()
    expect(page.get_by_role("button", name="Copy link")).to_be_hidden()  # it could not work
    expect(page.locator("#share-document-url")).to_have_value(f"{worker.http_url}/d/lesson/")


def test_the_sharing_page_on_its_own_copies_the_link_too(browser, start_worker):
    worker = start_worker("a")
    owner = owner_editor(browser, worker)
    owner.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=worker.http_url)
    page = owner.context.new_page()
    page.goto(f"{worker.http_url}/d/lesson/share/")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#share-document-url-copied")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{worker.http_url}/d/lesson/"
    page.get_by_role("button", name="Create view-only link").click()
    page.get_by_role("button", name="Copy the new link").click()
    expect(page.locator("#share-new-link-copied")).to_have_text("Copied")
    assert (
        page.evaluate("navigator.clipboard.readText()") == page.locator("#share-new-link-url").input_value()
    )
