"""The sharing page and the links it makes, through Django's test client.

Transactional, so that the commit hooks run: each change of rights notifies the
document's connections over the channel layer, and that must not log an error.
"""

import hashlib
import re

import pytest
from django.test import Client

from editor.access import grants
from editor.access.rules import Role
from editor.live import notify
from editor.models import Document, Share, ShareLink
from tests.documents import new_document

pytestmark = pytest.mark.django_db(transaction=True)

SHARE_PAGE = "/d/notes/share/"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("olive", password="x" * 12)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="x" * 12)


@pytest.fixture
def notes(owner) -> Document:
    document = new_document("notes", text="hello")
    document.owner = owner
    document.save(update_fields=["owner"])
    return document


@pytest.fixture
def owner_client(client, owner, notes) -> Client:
    client.force_login(owner)
    return client


def access_rev(document: Document) -> int:
    return Document.objects.get(pk=document.pk).access_rev


def page(response) -> str:
    return response.content.decode()


# Opening a link


def test_a_link_is_remembered_by_the_session_and_opens_its_document(client, notes):
    link, token = grants.create_link(document=notes, role=Role.EDITOR)
    response = client.get(f"/links/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/d/notes/"
    assert grants.session_link_ids(client.session) == [link.pk]


def test_an_unknown_link_is_a_404_page_in_the_sites_style(client, notes):
    response = client.get("/links/" + "A" * 32 + "/")
    assert response.status_code == 404
    html = page(response)
    assert "no such link" in html
    assert '<link rel="stylesheet" href="/static/editor/editor.css">' in html
    assert grants.session_link_ids(client.session) == []


def test_a_revoked_link_is_gone_and_says_so(client, notes):
    link, token = grants.create_link(document=notes, role=Role.VIEWER)
    grants.revoke_link(link)
    response = client.get(f"/links/{token}/")
    assert response.status_code == 410
    assert "This link was revoked" in page(response)
    assert grants.session_link_ids(client.session) == []


@pytest.mark.parametrize("token", ["has.dot", "x" * 65, "%C3%BC"])
def test_a_token_of_the_wrong_shape_is_not_looked_up(client, token):
    assert client.get(f"/links/{token}/").status_code == 404


# Who sees the sharing page


def test_someone_not_signed_in_is_sent_to_sign_in(client, notes):
    response = client.get(SHARE_PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/d/notes/share/"
    client.post(SHARE_PAGE, {"action": "visibility", "visibility": "private"})
    assert Document.objects.get(pk=notes.pk).visibility == "public"


def test_anyone_but_the_owner_gets_a_404_even_with_an_editor_share_or_link(client, notes, bob):
    grants.share(document=notes, user=bob, role=Role.EDITOR)
    _, token = grants.create_link(document=notes, role=Role.EDITOR)
    client.force_login(bob)
    client.get(f"/links/{token}/")
    assert client.get(SHARE_PAGE).status_code == 404
    assert client.post(SHARE_PAGE, {"action": "visibility", "visibility": "private"}).status_code == 404
    assert Document.objects.get(pk=notes.pk).visibility == "public"


def test_a_document_that_does_not_exist_is_a_404_like_one_not_yours(owner_client):
    assert owner_client.get("/d/nothing-here/share/").status_code == 404


def test_a_superuser_manages_any_document(client, notes, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x" * 12))
    assert client.get(SHARE_PAGE).status_code == 200


def test_the_owner_sees_visibility_people_and_links(owner_client, notes, bob):
    grants.share(document=notes, user=bob, role=Role.VIEWER)
    link, _ = grants.create_link(document=notes, role=Role.EDITOR, created_by=notes.owner)
    revoked, _ = grants.create_link(document=notes, role=Role.VIEWER)
    grants.revoke_link(revoked)
    response = owner_client.get(SHARE_PAGE)
    assert response.status_code == 200
    html = page(response)
    assert '<option value="public" selected>public (anyone can edit)</option>' in html
    assert '<option value="private">private</option>' in html
    people = html.split('id="share-people-heading"')[1].split('id="share-add-heading"')[0]
    assert '<th scope="row">bob</th>' in people
    assert '<option value="viewer" selected>viewer</option>' in people
    links = html.split('id="share-links-heading"')[1]
    assert f"…{link.hint}" in links
    assert "<td>olive</td>" in links
    assert f"…{revoked.hint}" not in links
    assert "Create view-only link" in links
    assert "Create edit link" in links
    assert 'href="/d/notes/"' in html


# Each action


def test_the_visibility_changes_and_the_page_says_so(owner_client, notes):
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "visibility", "visibility": "private"}, follow=True)
    assert response.redirect_chain == [(SHARE_PAGE, 302)]
    assert Document.objects.get(pk=notes.pk).visibility == "private"
    assert access_rev(notes) > before
    assert "The document is now private." in page(response)


def test_sharing_with_someone_and_changing_their_role(owner_client, notes, bob):
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "share", "username": "bob", "role": "viewer"})
    assert response.status_code == 302
    assert list(Share.objects.values_list("document_id", "user__username", "role")) == [
        (notes.pk, "bob", "viewer")
    ]
    middle = access_rev(notes)
    assert middle > before
    owner_client.post(SHARE_PAGE, {"action": "share", "username": "bob", "role": "editor"})
    assert Share.objects.get().role == "editor"
    assert access_rev(notes) > middle


def test_removing_a_share(owner_client, notes, bob):
    grants.share(document=notes, user=bob, role=Role.EDITOR)
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "unshare", "user": bob.pk}, follow=True)
    assert response.redirect_chain == [(SHARE_PAGE, 302)]
    assert not Share.objects.exists()
    assert access_rev(notes) > before
    assert "no longer shared with bob" in page(response)


def test_revoking_a_link(owner_client, notes):
    link, _ = grants.create_link(document=notes, role=Role.EDITOR)
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "revoke", "link": link.pk}, follow=True)
    assert response.redirect_chain == [(SHARE_PAGE, 302)]
    assert ShareLink.objects.get().revoked_at is not None
    assert access_rev(notes) > before
    assert f"…{link.hint} is revoked" in page(response)


def test_a_change_of_rights_tells_the_documents_connections_once_committed(owner_client, notes, monkeypatch):
    told = []
    monkeypatch.setattr(notify, "documents_access_changed", lambda slugs: told.append(list(slugs)))
    owner_client.post(SHARE_PAGE, {"action": "visibility", "visibility": "view-only"})
    assert told == [["notes"]]


@pytest.mark.parametrize(("role", "shown"), [("viewer", "view-only"), ("editor", "edit")])
def test_a_new_link_is_shown_once_and_only_its_hash_is_stored(owner_client, notes, owner, role, shown):
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "link", "role": role})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = page(response)
    assert f"New {shown} link" in html
    assert '<label for="share-new-link-url">Copy this link now: it is shown only once</label>' in html
    url = re.search(
        r'<input id="share-new-link-url" class="share-url" type="text" readonly value="([^"]+)"', html
    )[1]
    token = re.fullmatch(r"http://testserver/links/([A-Za-z0-9_-]{32})/", url)[1]
    link = ShareLink.objects.get()
    assert (link.document_id, link.role, link.created_by_id) == (notes.pk, role, owner.pk)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = ShareLink.objects.filter(pk=link.pk).values().get()
    assert not any(token in str(value) for value in row.values())
    assert access_rev(notes) == before
    assert token not in page(owner_client.get(SHARE_PAGE))


def test_the_new_link_opens_the_document_for_someone_else(owner_client, notes):
    html = page(owner_client.post(SHARE_PAGE, {"action": "link", "role": "viewer"}))
    path = re.search(r'value="http://testserver(/links/[^"]+)"', html)[1]
    stranger = Client()
    assert stranger.get(path)["Location"] == "/d/notes/"
    assert grants.session_link_ids(stranger.session) == [ShareLink.objects.get().pk]


# Bad input changes nothing


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"username": "nobody", "role": "editor"}, "No one here has the user name “nobody”."),
        ({"username": "olive", "role": "editor"}, "olive owns this document already."),
        ({"username": "bob", "role": "owner"}, "Select a valid choice."),
        ({"username": "", "role": "editor"}, "This field is required."),
    ],
)
def test_a_share_that_cannot_be_is_a_form_error(owner_client, notes, bob, data, error):
    before = access_rev(notes)
    response = owner_client.post(SHARE_PAGE, {"action": "share", **data})
    assert response.status_code == 200
    assert error in page(response)
    assert 'aria-invalid="true"' in page(response)
    assert not Share.objects.exists()
    assert access_rev(notes) == before


def test_a_visibility_that_does_not_exist_is_a_form_error(owner_client, notes):
    response = owner_client.post(SHARE_PAGE, {"action": "visibility", "visibility": "secret"})
    assert response.status_code == 200
    assert "Select a valid choice." in page(response)
    assert Document.objects.get(pk=notes.pk).visibility == "public"


def test_a_link_with_a_role_that_does_not_exist_is_a_form_error(owner_client, notes):
    response = owner_client.post(SHARE_PAGE, {"action": "link", "role": "owner"})
    assert response.status_code == 200
    assert "Select a valid choice." in page(response)
    assert not ShareLink.objects.exists()


def test_another_documents_link_or_share_is_a_404(owner_client, notes, bob):
    other = new_document("other")
    link, _ = grants.create_link(document=other, role=Role.EDITOR)
    grants.share(document=other, user=bob, role=Role.EDITOR)
    before = access_rev(other)
    assert owner_client.post(SHARE_PAGE, {"action": "revoke", "link": link.pk}).status_code == 404
    assert owner_client.post(SHARE_PAGE, {"action": "revoke", "link": "x"}).status_code == 404
    assert owner_client.post(SHARE_PAGE, {"action": "unshare", "user": bob.pk}).status_code == 404
    assert ShareLink.objects.get().revoked_at is None
    assert Share.objects.filter(document=other, user=bob).exists()
    assert access_rev(other) == before


def test_an_unknown_action_is_a_bad_request(owner_client, notes):
    assert owner_client.post(SHARE_PAGE, {"action": "delete"}).status_code == 400
    assert owner_client.post(SHARE_PAGE, {}).status_code == 400
    reflected = owner_client.post(SHARE_PAGE, {"action": "<script>alert(1)</script>"})
    assert reflected.status_code == 400
    assert reflected["Content-Type"].startswith("text/plain")


def test_a_post_without_the_csrf_token_is_refused(notes, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.post(SHARE_PAGE, {"action": "visibility", "visibility": "private"}).status_code == 403
    assert Document.objects.get(pk=notes.pk).visibility == "public"
    # The page's own forms carry the token.
    html = page(browser.get(SHARE_PAGE))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
    data = {"action": "visibility", "visibility": "private", "csrfmiddlewaretoken": token}
    assert browser.post(SHARE_PAGE, data).status_code == 302
    assert Document.objects.get(pk=notes.pk).visibility == "private"


def assert_no_inline_script_style_or_handler(html: str) -> None:
    """The site's Content-Security-Policy refuses them (docs/security.md): scripts are files."""
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:|data:", html)


def test_the_pages_run_no_inline_script_style_or_handler(owner_client, notes, bob):
    grants.share(document=notes, user=bob, role=Role.VIEWER)
    grants.create_link(document=notes, role=Role.EDITOR, created_by=notes.owner)
    assert_no_inline_script_style_or_handler(page(owner_client.get(SHARE_PAGE)))
    assert_no_inline_script_style_or_handler(
        page(owner_client.post(SHARE_PAGE, {"action": "link", "role": "viewer"}))
    )
    assert_no_inline_script_style_or_handler(
        page(owner_client.post(SHARE_PAGE, {"action": "share", "username": "x"}))
    )
    assert_no_inline_script_style_or_handler(page(owner_client.get("/links/" + "A" * 32 + "/")))
