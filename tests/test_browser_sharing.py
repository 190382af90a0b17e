"""Sharing in real Chromium: a view-only link opened in another browser, watched live, then revoked."""

import re

import pytest
from playwright.sync_api import expect

from tests.admin_http import OPERATOR_PASSWORD
from tests.pages import assert_no_errors, open_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create_teacher():
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    password = make_password(OPERATOR_PASSWORD, hasher="pbkdf2_sha256")  # as the worker's settings hash
    return User.objects.create(username="teacher", password=password)


def test_a_view_only_link_shows_the_owner_typing_live_and_stops_when_revoked(browser, start_worker):
    worker = start_worker("a")
    create_teacher()
    owner_context = browser.new_context()
    sign_in = owner_context.new_page()
    sign_in.goto(f"{worker.http_url}/accounts/login/?next=/d/lesson/")
    sign_in.fill("#id_username", "teacher")
    sign_in.fill("#id_password", OPERATOR_PASSWORD)
    sign_in.click("button[type=submit]")
    sign_in.wait_for_url(f"{worker.http_url}/d/lesson/")
    sign_in.close()
    owner = open_editor(owner_context, f"{worker.http_url}/d/lesson/")
    owner.locator("#editor").focus()
    owner.keyboard.type("Lesson one.")

    # The owner makes a view-only link on the sharing page (the document is private: theirs).
    sharing = owner_context.new_page()
    sharing.goto(f"{worker.http_url}/d/lesson/share/")
    sharing.get_by_role("button", name="Create view-only link").click()
    link = sharing.locator("#share-new-link-url").input_value()
    assert "/links/" in link

    pupil = open_editor(browser.new_context(), link)
    assert pupil.url == f"{worker.http_url}/d/lesson/"
    expect(pupil.locator("#editor")).to_have_value("Lesson one.")
    expect(pupil.locator("#read-only")).to_have_text("You can view this document, not edit it.")
    expect(pupil.locator("#editor")).to_have_js_property("readOnly", True)
    expect(owner.locator("#people-list li")).to_have_count(2)
    expect(owner.locator("#people-list li[data-role=viewer]")).to_contain_text("(viewer)")

    owner.keyboard.type(" Read this.")
    expect(pupil.locator("#editor")).to_have_value("Lesson one. Read this.")
    pupil.locator("#editor").focus()
    pupil.keyboard.type("scribble")
    expect(pupil.locator("#editor")).to_have_value("Lesson one. Read this.")

    # Revoked: the pupil is told, and stops receiving.
    sharing.goto(f"{worker.http_url}/d/lesson/share/")
    sharing.get_by_role("button", name=re.compile(r"^Revoke")).click()
    sharing.wait_for_load_state()
    expect(pupil.locator("#message")).to_contain_text("You no longer have access to this document")
    expect(pupil.locator("#message")).to_contain_text("revoked")
    expect(pupil.locator("#status")).to_have_text("disconnected")
    expect(pupil.locator("#editor")).to_have_value("")  # what it may no longer see is gone
    expect(owner.locator("#people-list li")).to_have_count(1)
    owner.keyboard.type(" More.")
    second_tab = open_editor(owner_context, f"{worker.http_url}/d/lesson/")
    expect(second_tab.locator("#editor")).to_have_value("Lesson one. Read this. More.")
    expect(pupil.locator("#editor")).to_have_value("")
    # A reload does not bring it back.
    pupil.reload()
    expect(pupil.locator("#forbidden-reason")).to_contain_text("revoked")
    assert_no_errors(owner, second_tab)
