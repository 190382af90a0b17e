"""Pages, static files, the health check and the admin, through Django's test client."""

import asyncio
import json
import re

import pytest
from django.utils import timezone

from editor.live import notify
from editor.models import Document, EditingSession, Operation, Version
from tests.documents import new_document


def test_home_renders_the_editor_for_the_default_document(client, db):
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
def test_a_named_document_has_its_own_page(client, db, slug):
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


def test_the_page_runs_no_inline_script_style_or_handler(client, db):
    """Its Content-Security-Policy refuses them (docs/security.md); the JSON config is data, not run."""
    html = client.get("/").content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script id="editor-config" type="application/json">', *scripts[1:]]
    assert all("src=" in tag for tag in scripts[1:])
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:|data:", html)


def test_the_icon_is_served_from_this_origin(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg ")


def test_healthz_names_the_worker(client, settings):
    assert client.get("/healthz").json() == {"status": "ok", "worker": settings.WORKER_ID}


@pytest.fixture
def documents_and_sessions(db):
    notes = new_document("notes", text="hello", rev=3)
    EditingSession.objects.create(
        document=notes,
        session_id="live1",
        display_name="Curious Otter",
        worker="host:1",
        client_address="10.0.0.1:5",
    )
    EditingSession.objects.create(
        document=notes, session_id="gone1", worker="host:2", disconnected_at=timezone.now()
    )
    Operation.objects.create(document=notes, rev=3, op=[2, "llo", -1], op_id="x", session_id="live1")
    return notes


def test_admin_lists_documents_with_size_revision_and_people_now(admin_client, documents_and_sessions):
    response = admin_client.get("/admin/editor/document/")
    assert response.status_code == 200
    row = response.content.decode().split('class="field-slug"')[1].split("</tr>")[0]
    assert "notes" in row
    assert '<td class="field-size">5</td>' in row
    assert '<td class="field-rev">3</td>' in row
    assert '<td class="field-people_now">1</td>' in row


def test_admin_document_page_shows_text_live_sessions_and_history(admin_client, documents_and_sessions):
    response = admin_client.get(f"/admin/editor/document/{documents_and_sessions.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="text"' not in html  # no input: text only changes through edits
    assert "hello" in html
    live = html.split("Live sessions")[1]
    assert "live1" in live
    assert "Curious Otter" in live
    assert "gone1" not in live
    assert "<td>3</td>" in html.split("latest 50 operations")[1]
    assert "+3 -1" in html
    assert "revisions 3 to 3: 1 operation(s), 0 milestone(s) (every 100 revisions)" in html


def test_admin_document_page_lists_named_versions(admin_client, documents_and_sessions):
    Version.objects.create(
        document=documents_and_sessions, rev=2, name="Sent to the printer", created_by_name="Ann"
    )
    html = admin_client.get(f"/admin/editor/document/{documents_and_sessions.pk}/change/").content.decode()
    versions = html.split("Named versions")[1]
    assert "Sent to the printer" in versions
    assert "Ann" in versions


def test_admin_makes_documents_read_only_and_back_and_tells_open_pages(
    admin_client, documents_and_sessions, monkeypatch
):
    told = []
    monkeypatch.setattr(notify, "documents_access_changed", lambda slugs: told.append(list(slugs)))
    data = {"action": "make_read_only", "_selected_action": [documents_and_sessions.pk]}
    assert admin_client.post("/admin/editor/document/", data).status_code == 302
    assert Document.objects.get(slug="notes").read_only is True
    data["action"] = "make_writable"
    admin_client.post("/admin/editor/document/", data)
    assert Document.objects.get(slug="notes").read_only is False
    assert told == [["notes"], ["notes"]]


def test_admin_disconnects_live_sessions_with_a_reason(admin_client, documents_and_sessions, monkeypatch):
    told = []
    monkeypatch.setattr(
        notify, "sessions_disconnect", lambda sessions, reason: told.append((sessions, reason))
    )
    selected = list(EditingSession.objects.values_list("pk", flat=True))
    data = {"action": "disconnect", "_selected_action": selected, "reason": "spam"}
    assert admin_client.post("/admin/editor/editingsession/", data).status_code == 302
    assert told == [([("notes", "live1")], "spam")]  # only the live one


def test_admin_sessions_filter_by_document_and_worker_and_search_by_name(
    admin_client, documents_and_sessions
):
    by_worker = admin_client.get("/admin/editor/editingsession/?worker__exact=host%3A2").content.decode()
    assert "gone1" in by_worker
    assert "live1" not in by_worker
    by_document = admin_client.get(
        f"/admin/editor/editingsession/?document__id__exact={documents_and_sessions.pk}"
    ).content.decode()
    assert "live1" in by_document
    assert "gone1" in by_document
    found = admin_client.get("/admin/editor/editingsession/?q=otter").content.decode()
    assert "live1" in found
    assert "gone1" not in found


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


@pytest.fixture
def viewer(client, db):
    """Staff who may look at documents and sessions but not change them."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("viewer", password="x" * 12, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_document", "view_editingsession"])
    )
    client.force_login(user)
    return client


def test_view_only_staff_cannot_run_the_operator_actions(viewer, documents_and_sessions, monkeypatch):
    told = []
    monkeypatch.setattr(notify, "documents_access_changed", lambda *args: told.append(args))
    monkeypatch.setattr(notify, "sessions_disconnect", lambda *args: told.append(args))
    assert viewer.get("/admin/editor/document/").status_code == 200
    assert "make_read_only" not in viewer.get("/admin/editor/document/").content.decode()
    viewer.post(
        "/admin/editor/document/",
        {"action": "make_read_only", "_selected_action": [documents_and_sessions.pk]},
    )
    selected = list(EditingSession.objects.values_list("pk", flat=True))
    viewer.post("/admin/editor/editingsession/", {"action": "disconnect", "_selected_action": selected})
    assert Document.objects.get(slug="notes").read_only is False
    assert told == []


def admin_change(document) -> dict:
    """The document's admin form as a browser posts it, its inlines empty."""
    data = {"owner": "", "visibility": document.visibility, "_save": "Save"}
    for prefix in ("shares", "links", "sessions", "versions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_admin_sets_owner_and_visibility_alone_and_tells_open_pages(
    admin_client, admin_user, documents_and_sessions, monkeypatch, django_capture_on_commit_callbacks
):
    """Only those columns are written (not rev or length, which edits move meanwhile)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    told = []
    monkeypatch.setattr(notify, "documents_access_changed", lambda slugs: told.append(list(slugs)))
    notes = documents_and_sessions
    EditingSession.objects.filter(document=notes).update(disconnected_at=timezone.now())  # no inline rows
    data = {**admin_change(notes), "owner": str(admin_user.pk), "visibility": "private"}
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/editor/document/{notes.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    notes.refresh_from_db()
    assert (notes.owner_id, notes.visibility, notes.access_rev, notes.rev) == (admin_user.pk, "private", 1, 3)
    writes = [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "editor_document" in q["sql"]]
    assert writes, "the change was written"
    assert not any('"rev"' in sql or '"length"' in sql or '"text"' in sql for sql in writes), writes
    assert told == [["notes"]]


def test_admin_revokes_links_and_tells_open_pages(
    admin_client, documents_and_sessions, monkeypatch, django_capture_on_commit_callbacks
):
    from editor.access import grants
    from editor.access.rules import Role
    from editor.models import ShareLink

    told = []
    monkeypatch.setattr(notify, "documents_access_changed", lambda slugs: told.append(list(slugs)))
    link, _ = grants.create_link(document=documents_and_sessions, role=Role.VIEWER)
    data = {"action": "revoke", "_selected_action": [link.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post("/admin/editor/sharelink/", data).status_code == 302
    assert ShareLink.objects.get(pk=link.pk).revoked_at is not None
    assert told == [["notes"]]
    assert admin_client.get("/admin/editor/sharelink/add/").status_code == 403  # tokens are made on the page


def test_admin_share_cannot_be_moved_to_another_document_or_user(
    admin_client, documents_and_sessions, admin_user
):
    from editor.models import Share

    share = Share.objects.create(document=documents_and_sessions, user=admin_user, role="viewer")
    html = admin_client.get(f"/admin/editor/share/{share.pk}/change/").content.decode()
    assert 'name="document"' not in html
    assert 'name="user"' not in html
    assert 'name="role"' in html


# Readiness (/readyz): in this process, on the test's own worker (stopped after each test).

pytestmark_readyz = pytest.mark.django_db(transaction=True)


@pytestmark_readyz
async def test_readyz_answers_200_when_the_database_and_the_channel_layer_answer(async_client):
    response = await async_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"accepting": "ok", "database": "ok", "channel_layer": "ok"}


@pytestmark_readyz
@pytest.mark.logs_errors
async def test_readyz_answers_503_naming_a_database_that_fails_or_a_layer_that_does_not_answer(
    async_client, monkeypatch, settings, caplog
):
    from editor.live import hub, worker

    def database_down() -> None:
        raise ConnectionRefusedError("connection refused")

    async def never(self) -> None:
        await asyncio.Event().wait()

    settings.EDITOR_READY_TIMEOUT_SECONDS = 0.2
    monkeypatch.setattr(worker, "database_round_trip", database_down)
    monkeypatch.setattr(hub.Hub, "round_trip", never)
    response = await async_client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks == {
        "accepting": "ok",
        "database": "ConnectionRefusedError: connection refused",
        "channel_layer": "no answer within 0.2 s",
    }
    assert "not ready: accepting ok, database ConnectionRefusedError" in caplog.text


@pytestmark_readyz
async def test_readyz_answers_503_while_the_worker_shuts_down(async_client):
    from editor.live import worker

    (await worker.current()).draining = True
    response = await async_client.get("/readyz")
    assert (response.status_code, response.json()["checks"]["accepting"]) == (503, "shutting down")
