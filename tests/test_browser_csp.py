"""The pages under their Content-Security-Policy in real Chromium: nothing they need is refused.

A violation shows twice: as a ``securitypolicyviolation`` event (recorded by a script
Playwright adds before the page's own) and as a console error (``page.errors``).
"""

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.admin_http import OPERATOR_PASSWORD, create_operator
from tests.documents import new_document
from tests.pages import assert_no_errors, open_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


def watched_context(browser) -> BrowserContext:
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    return context


def violations(page: Page) -> list[str]:
    return page.evaluate("window.cspViolations")


@pytest.fixture(params=["worker", "runserver"])
def server(request):
    """A production-like worker (DEBUG off) and the development server: CSP applies to both."""
    if request.param == "worker":
        return request.getfixturevalue("start_worker")("csp")
    return request.getfixturevalue("runserver")


def test_the_editor_goes_live_under_its_csp_with_no_violation(browser, server):
    context = watched_context(browser)
    page = context.new_page()
    response = page.goto(f"{server.http_url}/d/csp/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    page.close()

    page = open_editor(context, f"{server.http_url}/d/csp/")  # waits for "live"
    page.locator("#editor").press_sequentially("typed under CSP")
    expect(page.locator("#editor")).to_have_value("typed under CSP")
    assert violations(page) == []
    assert_no_errors(page)
    context.close()


def test_the_admin_login_page_loads_under_its_csp_with_no_violation(browser, server):
    context = watched_context(browser)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    response = page.goto(f"{server.http_url}/admin/login/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("input[name=username]")).to_be_visible()
    # Its stylesheet was applied, not refused: Django's admin colours the header.
    assert page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert violations(page) == []
    assert_no_errors(page)
    context.close()


def test_the_admins_document_pages_load_under_its_csp_with_no_violation(browser, start_worker):
    """Signed in: the list, a document's page (its text, live sessions and history), the sessions."""
    worker = start_worker("csp")
    create_operator()
    document = new_document("notes", text="  indented\nsecond line", rev=1)
    context = watched_context(browser)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(f"{worker.http_url}/admin/login/?next=/admin/")
    page.locator("input[name=username]").fill("operator")
    page.locator("input[name=password]").fill(OPERATOR_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_contain_text("operator")
    for path in (
        "/admin/editor/document/",
        f"/admin/editor/document/{document.pk}/change/",
        "/admin/editor/editingsession/",
    ):
        page.goto(worker.http_url + path)
        expect(page.locator("#content")).to_be_visible()
        assert violations(page) == [], path
    page.goto(f"{worker.http_url}/admin/editor/document/{document.pk}/change/")
    expect(page.get_by_label("text of notes")).to_have_value("  indented\nsecond line")
    assert_no_errors(page)
    context.close()


def test_an_injected_inline_script_is_refused_and_seen(browser, start_worker):
    """The listeners above do see a violation: an inline script added to the page does not run."""
    worker = start_worker("csp")
    context = watched_context(browser)
    page = open_editor(context, f"{worker.http_url}/d/csp/")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
        }"""
    )
    expect(page.locator("#status")).to_have_text("live")
    assert page.evaluate("window.injected") is None
    assert any(violation.startswith("script-src-elem inline") for violation in violations(page))
    assert any("Content Security Policy" in error for error in page.errors)
    context.close()
