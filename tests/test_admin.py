"""The admin's revisions page on Django's test client: what it shows and what it refuses (its
restores and reverts on a real worker: tests/test_multiprocess.py)."""

import pytest

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
