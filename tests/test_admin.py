"""The admin's revisions page on Django's test client: what it shows and what it refuses (its
restores and reverts on a real worker: tests/test_multiprocess.py)."""

import pytest
from django.utils import timezone

from editor.models import Document, EditingSession, Operation
from tests.documents import new_document, read_document

pytestmark = pytest.mark.django_db


def test_the_revisions_page_lists_the_authors_and_refuses_to_commit_outside_the_editors_server(
    admin_client,
):
    document = new_document("doc", text="abc", rev=3)
    EditingSession.objects.create(document=document, session_id="s1", display_name="Ann", worker="w")
    Operation.objects.create(document=document, rev=4, op=[3, "d"], op_id="x", session_id="s1")
    Document.objects.filter(pk=document.pk).update(rev=4, length=4)
    page = admin_client.get(f"/admin/editor/document/{document.pk}/revisions/")
    assert page.status_code == 200
    assert b'value="session:s1"' in page.content
    assert b"Ann (session:s1, 1 operations)" in page.content

    refused = admin_client.post(
        f"/admin/editor/document/{document.pk}/revisions/", {"do": "restore", "rev": "3"}
    )
    assert refused.status_code == 200
    assert b"restores and reverts need the editor&#x27;s own server" in refused.content
    invalid = admin_client.post(
        f"/admin/editor/document/{document.pk}/revisions/", {"do": "restore", "rev": "-1"}
    )
    assert b"greater than or equal to 0" in invalid.content
    assert read_document("doc")[0] == 4, "nothing committed"


def test_the_revisions_page_needs_the_right_to_change_documents(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="x" * 12, is_staff=True)
    client.force_login(staff)
    document = new_document("doc")
    assert client.get(f"/admin/editor/document/{document.pk}/revisions/").status_code == 403


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 "
            "Safari/537.36",
            "Chrome 156 on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Mobile/15E148 Safari/604.1",
            "Safari 17 on iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge 131 on Windows",
        ),
        ("Python/3.11 websockets/15.0.1", "Python/3.11 websockets/15.0.1"),
        ("", "unknown"),
    ],
)
def test_the_admin_names_a_sessions_browser_from_its_user_agent(user_agent, shown):
    from editor.admin import browser_of

    assert browser_of(user_agent) == shown


def test_the_live_sessions_of_a_document_tell_one_persons_tabs_apart(admin_client):
    document = new_document("doc")
    people = [("p1", "Firefox/128.0"), ("p1", "Chrome/156.0"), ("p2", ""), ("", ""), ("", "")]
    for number, (person, agent) in enumerate(people):
        EditingSession.objects.create(
            document=document,
            session_id=f"s{number}",
            display_name="Eager Gecko",
            person=person,
            user_agent=f"Mozilla/5.0 (X11; Linux x86_64) {agent}",
            worker="w",
        )
    EditingSession.objects.create(  # gone: not counted
        document=document, session_id="s9", person="p1", worker="w", disconnected_at=timezone.now()
    )
    page = admin_client.get(f"/admin/editor/document/{document.pk}/change/").content.decode()
    assert page.count("tab 1 of 2") == 1
    assert page.count("tab 2 of 2") == 1
    assert page.count("its only tab") == 3  # p2, and each session without a person (older rows)
    first, second = page.index("Firefox 128 on Linux"), page.index("Chrome 156 on Linux")
    # Newest first, as the inline lists them: Chrome connected second, so it is tab 2.
    assert page.index("tab 2 of 2") < second < page.index("tab 1 of 2") < first

    # The sessions list numbers the live ones whatever it is filtered by, and not the closed.
    listed = admin_client.get("/admin/editor/editingsession/?q=Chrome").content.decode()
    assert "tab 2 of 2" in listed
    assert "—" in admin_client.get("/admin/editor/editingsession/?q=s9").content.decode()
