"""Pages, static files, the health check and the admin, through Django's test client."""

import json

import pytest
from django.utils import timezone

from editor.models import Document, EditingSession


def test_home_renders_the_editor_for_the_default_document(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<textarea id="editor"' in html
    assert 'id="status"' in html
    assert ">connecting<" in html
    assert 'id="people"' in html
    assert '<script type="module" src="/static/editor/main.js">' in html
    config = json.loads(html.split('id="editor-config" type="application/json">')[1].split("</script>")[0])
    assert config["socketPath"] == "/ws/docs/default/"


@pytest.mark.parametrize("slug", ["notes", "Meeting_2026-11-25", "x" * 64])
def test_a_named_document_has_its_own_page(client, slug):
    response = client.get(f"/d/{slug}/")
    assert response.status_code == 200
    assert f'"socketPath": "/ws/docs/{slug}/"' in response.content.decode()


@pytest.mark.parametrize(
    "path", ["/d/bad.slug/", "/d/has%20space/", "/d/" + "x" * 65 + "/", "/d//", "/d/ümlaut/"]
)
def test_anything_else_is_a_404(client, path):
    assert client.get(path).status_code == 404


def test_a_page_view_does_not_create_a_document(client, db):
    client.get("/d/just-looking/")
    assert not Document.objects.exists()


@pytest.mark.parametrize("name", ["main.js", "client.js", "ot.js", "socket.js", "textarea.js", "editor.css"])
def test_the_pages_own_static_files_are_served(client, name):
    response = client.get(f"/static/editor/{name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
    assert response["Content-Type"].startswith("text/javascript" if name.endswith(".js") else "text/css")


def test_healthz_names_the_worker(client, settings):
    assert client.get("/healthz").json() == {"status": "ok", "worker": settings.WORKER_ID}


@pytest.fixture
def documents_and_sessions(db):
    notes = Document.objects.create(slug="notes", text="hello", rev=3)
    EditingSession.objects.create(
        document=notes, session_id="live1", worker="host:1", client_address="10.0.0.1:5"
    )
    EditingSession.objects.create(
        document=notes, session_id="gone1", worker="host:2", disconnected_at=timezone.now()
    )
    return notes


def test_admin_lists_documents_with_size_revision_and_people_now(admin_client, documents_and_sessions):
    response = admin_client.get("/admin/editor/document/")
    assert response.status_code == 200
    row = response.content.decode().split('class="field-slug"')[1].split("</tr>")[0]
    assert "notes" in row
    assert '<td class="field-size">5</td>' in row
    assert '<td class="field-rev">3</td>' in row
    assert '<td class="field-people_now">1</td>' in row


def test_admin_document_page_shows_the_text_read_only(admin_client, documents_and_sessions):
    response = admin_client.get(f"/admin/editor/document/{documents_and_sessions.pk}/change/")
    assert response.status_code == 200
    assert 'name="text"' not in response.content.decode()  # no input: text only changes through edits
    assert "hello" in response.content.decode()


def test_admin_sessions_filter_active_now(admin_client, documents_and_sessions):
    everything = admin_client.get("/admin/editor/editingsession/").content.decode()
    assert "live1" in everything
    assert "gone1" in everything
    active = admin_client.get("/admin/editor/editingsession/?active=yes").content.decode()
    assert "live1" in active
    assert "gone1" not in active
    ended = admin_client.get("/admin/editor/editingsession/?active=no").content.decode()
    assert "gone1" in ended
    assert "live1" not in ended


def test_admin_session_page_renders(admin_client, documents_and_sessions):
    session = EditingSession.objects.get(session_id="live1")
    response = admin_client.get(f"/admin/editor/editingsession/{session.pk}/change/")
    assert response.status_code == 200
    assert "10.0.0.1:5" in response.content.decode()


def test_the_admin_needs_a_login(client):
    response = client.get("/admin/editor/document/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
