"""Who may do what, rule by rule, over the real ASGI application (handshake, session, consumer) and pages.

Every kind of person (anonymous, owner, shared editor and viewer, someone
signed in with no share, holders of a view-only, an edit and a revoked
link, a superuser) on every visibility, for connect, edit, presence and
fetch; then the rules' live side: a change of rights reaching open sockets.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from editor.access import grants
from editor.access.rules import Role, Visibility
from editor.models import Document, EditingSession, Share
from tests.documents import aread_document
from tests.tabs import ORIGIN, TIMEOUT, Tab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer_kind")]

TEXT = "hello"

# Each kind of person: what they hold on the document besides its visibility.
GRANT_OF = {
    "anonymous": Role.NONE,
    "stranger": Role.NONE,  # signed in, not shared with
    "revoked-link": Role.NONE,
    "view-link": Role.VIEWER,
    "shared-viewer": Role.VIEWER,
    "edit-link": Role.EDITOR,
    "shared-editor": Role.EDITOR,
    "owner": Role.OWNER,
    "superuser": Role.OWNER,
}


def expected_role(person: str, visibility: Visibility) -> Role:
    return max(visibility.everyone, GRANT_OF[person])


def make_document(visibility: Visibility) -> Document:
    owner = User.objects.create_user("owner", password="x" * 12)
    return Document.objects.create(
        slug="doc",
        text=TEXT,
        rev=3,
        snapshot_rev=3,
        length=len(TEXT),
        owner=owner,
        visibility=visibility.value,
    )


def browser_of(person: str, document: Document) -> Client:
    """A browser session of that person: signed in, or holding a link opened through its page."""
    browser = Client()
    if person in ("stranger", "shared-viewer", "shared-editor", "superuser"):
        user = User.objects.create_user(person, password="x" * 12, is_superuser=person == "superuser")
        browser.force_login(user)
        if person.startswith("shared-"):
            grants.share(document=document, user=user, role=GRANT_OF[person])
    elif person == "owner":
        browser.force_login(document.owner)
    elif person.endswith("-link"):
        role = Role.EDITOR if person == "edit-link" else Role.VIEWER
        link, token = grants.create_link(document=document, role=role, created_by=document.owner)
        assert browser.get(f"/links/{token}/").status_code == 302
        if person == "revoked-link":
            grants.revoke_link(link)
    return browser


def tab_of(browser: Client, slug: str = "doc") -> Tab:
    cookie = browser.cookies.get("sessionid")
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={cookie.value}".encode())] if cookie else [])
    return Tab(f"/ws/docs/{slug}/", headers=headers)


async def refused(tab: Tab) -> dict:
    """The handshake is accepted so that the refusal can say why; then the socket closes with 4403."""
    connected, _ = await tab.communicator.connect(timeout=TIMEOUT)
    assert connected
    error = await tab.receive()
    assert await tab.communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
    return error


PEOPLE = list(GRANT_OF)
VISIBILITIES = list(Visibility)


@pytest.mark.parametrize("visibility", VISIBILITIES, ids=lambda v: v.value)
@pytest.mark.parametrize("person", PEOPLE)
async def test_each_person_may_do_what_their_role_allows_on_connect_edit_presence_and_fetch(
    person, visibility
):
    document = await sync_to_async(make_document)(visibility)
    browser = await sync_to_async(browser_of)(person, document)
    role = expected_role(person, visibility)
    page = await sync_to_async(browser.get)("/d/doc/")
    tab = tab_of(browser)
    if role == Role.NONE:
        assert page.status_code == 403
        error = await refused(tab)
        assert error["type"] == "error"
        assert error["code"] == "forbidden"
        reason = "revoked" if person == "revoked-link" else "private"
        assert reason in error["message"]
        assert not await EditingSession.objects.filter(document=document).aexists()
        return
    assert page.status_code == 200
    assert ('id="share"' in page.content.decode()) == (role == Role.OWNER)
    watcher = Tab("/ws/docs/doc/", headers=[ORIGIN, (b"cookie", await owner_cookie(document))])
    await watcher.open()
    first = await tab.open()
    assert (first["type"], first["text"], first["role"]) == ("snapshot", TEXT, role.value_name)
    assert first["read_only"] is (role == Role.VIEWER)
    joined = await watcher.receive_until(lambda f: f["type"] == "person" and f["session"] == first["session"])
    assert joined[-1]["role"] == role.value_name
    # Presence: anyone who may see the document shows where they are.
    await tab.send({"type": "caret", "rev": 3, "caret": [1, 2]})
    await watcher.receive_until(
        lambda f: f["type"] == "person" and f["session"] == first["session"] and f["caret"] == [1, 2]
    )
    # Fetch: a gap filled (the log does not reach back, so the text comes again).
    await tab.send({"type": "fetch", "rev": 0})
    assert (await tab.receive_type("snapshot"))["text"] == TEXT
    # Edit.
    await tab.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "e1"})
    answer = await tab.receive_until(lambda f: f["type"] in ("ack", "error"))
    if role >= Role.EDITOR:
        assert answer[-1] == {"type": "ack", "rev": 4, "id": "e1"}
        assert await aread_document("doc") == (4, TEXT + "!")
    else:
        assert (answer[-1]["code"], answer[-1]["id"]) == ("read-only", "e1")
        assert "view this document, not edit" in answer[-1]["message"]
        assert await aread_document("doc") == (3, TEXT)
    await tab.close()
    await watcher.close()


async def owner_cookie(document: Document) -> bytes:
    browser = Client()
    owner = await User.objects.aget(pk=document.owner_id)
    await sync_to_async(browser.force_login)(owner)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


async def test_a_new_document_belongs_to_whoever_signed_in_opened_it_and_is_private_by_default():
    user = await User.objects.acreate_user("ada", password="x" * 12)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    tab = tab_of(browser, "notes")
    first = await tab.open()
    assert first["role"] == "owner"
    document = await Document.objects.aget(slug="notes")
    assert (document.owner_id, document.visibility) == (user.pk, "private")
    await tab.close()
    assert (await refused(tab_of(Client(), "notes")))["code"] == "forbidden"


async def test_new_documents_take_the_configured_visibility(settings):
    settings.EDITOR_NEW_DOCUMENT_VISIBILITY = "view-only"
    user = await User.objects.acreate_user("ada", password="x" * 12)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    tab = tab_of(browser, "lecture")
    assert (await tab.open())["role"] == "owner"
    await tab.close()
    assert (await Document.objects.aget(slug="lecture")).visibility == "view-only"
    anonymous = tab_of(Client(), "lecture")
    assert (await anonymous.open())["role"] == "viewer"
    await anonymous.close()


async def test_documents_opened_anonymously_and_the_default_one_are_everyones(django_user_model):
    tab = tab_of(Client(), "scratch")
    assert (await tab.open())["role"] == "editor"
    await tab.close()
    user = await django_user_model.objects.acreate_user("ada", password="x" * 12)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    tab = tab_of(browser, "default")
    assert (await tab.open())["role"] == "editor"
    await tab.close()
    for slug in ("scratch", "default"):
        document = await Document.objects.aget(slug=slug)
        assert (document.owner_id, document.visibility) == (None, "public")


# Live: a change of rights reaches the open sockets (on one process here; on two in test_multiprocess.py).


async def open_as(person: str, document: Document) -> tuple[Tab, dict, Client]:
    browser = await sync_to_async(browser_of)(person, document)
    tab = tab_of(browser)
    return tab, await tab.open(), browser


async def test_an_editor_made_viewer_stays_connected_read_only_and_shown_as_viewer():
    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    owner, _, _ = await open_as("owner", document)
    editor, first, _ = await open_as("shared-editor", document)
    assert first["role"] == "editor"
    share = await Share.objects.select_related("user").aget(document=document)
    await sync_to_async(grants.share)(document=document, user=share.user, role=Role.VIEWER)
    mode = await editor.receive_type("mode")
    assert mode == {"type": "mode", "read_only": True, "role": "viewer", "locked": False}
    shown = await owner.receive_until(lambda f: f["type"] == "person" and f.get("role") == "viewer")
    assert shown[-1]["session"] == first["session"]
    await editor.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "late"})
    assert (await editor.receive_type("error"))["code"] == "read-only"
    assert await aread_document("doc") == (3, TEXT)
    await editor.close()
    await owner.close()


@pytest.mark.parametrize(
    ("person", "take_away"),
    [
        ("shared-editor", "unshare"),
        ("view-link", "revoke"),
        ("anonymous", "private"),
        ("shared-viewer", "deactivate"),
    ],
)
async def test_someone_who_lost_access_is_closed_with_the_reason_and_cannot_come_back(person, take_away):
    visibility = Visibility.VIEW_ONLY if take_away == "private" else Visibility.PRIVATE
    document = await sync_to_async(make_document)(visibility)
    tab, first, browser = await open_as(person, document)
    assert first["type"] == "snapshot"
    if take_away == "unshare":
        share = await Share.objects.aget(document=document)
        await sync_to_async(grants.unshare)(document=document, user_id=share.user_id)
    elif take_away == "revoke":
        link = await document.links.aget()
        await sync_to_async(grants.revoke_link)(link)
    elif take_away == "private":
        await sync_to_async(grants.set_document_rights)(
            document_id=document.pk, visibility=Visibility.PRIVATE
        )
    else:
        user = await User.objects.aget(username=person)
        user.is_active = False
        await user.asave()
    error = await tab.receive_type("error")
    assert error["code"] == "forbidden"
    assert error["message"].startswith("You no longer have access to this document")
    if take_away == "deactivate":  # not "you signed out": the account is the reason
        assert "your account was deactivated" in error["message"]
    assert await tab.communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
    await tab.communicator.disconnect(code=4403)
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.disconnected_at is not None
    assert (await refused(tab_of(browser)))["code"] == "forbidden"


async def test_an_edit_in_flight_when_the_rights_change_commits_only_under_the_new_ones():
    """The commit itself compares the rights it was sent under: a change that committed first
    refuses it (as read-only now), even before the connection heard of the change."""
    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    editor, _first, _ = await open_as("shared-editor", document)
    share = await Share.objects.aget(document=document)
    # The change commits without telling anyone: only the commit's check can stop the edit.
    await Share.objects.filter(pk=share.pk).aupdate(role="viewer")
    await sync_to_async(grants.documents.bump_access_rev)(document_ids=[document.pk])
    await editor.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "in-flight"})
    frames = await editor.receive_until(lambda f: f["type"] in ("ack", "error"))
    assert (frames[-1]["code"], frames[-1]["id"]) == ("read-only", "in-flight")
    assert {"type": "mode", "read_only": True, "role": "viewer", "locked": False} in frames
    assert await aread_document("doc") == (3, TEXT)
    # Made editor again (the usual way, which tells the connection): edits go through.
    share = await Share.objects.select_related("user").aget(pk=share.pk)
    await sync_to_async(grants.share)(document=document, user=share.user, role=Role.EDITOR)
    assert (await editor.receive_type("mode"))["role"] == "editor"
    await editor.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "again"})
    frames = await editor.receive_until(lambda f: f["type"] in ("ack", "error"))
    assert frames[-1] == {"type": "ack", "rev": 4, "id": "again"}
    await editor.close()


async def test_an_operator_lock_sits_on_top_of_the_roles():
    document = await sync_to_async(make_document)(Visibility.PUBLIC)
    owner, _, _ = await open_as("owner", document)
    viewer, _, _ = await open_as("view-link", document)  # public: an editor anyway
    await sync_to_async(grants.documents.set_read_only)(document_ids=[document.pk], read_only=True)
    await sync_to_async(grants.rights_changed)([document.pk])
    assert await owner.receive_type("mode") == {
        "type": "mode",
        "read_only": True,
        "role": "owner",
        "locked": True,
    }
    assert await viewer.receive_type("mode") == {
        "type": "mode",
        "read_only": True,
        "role": "editor",
        "locked": True,
    }
    await owner.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "locked"})
    error = await owner.receive_type("error")
    assert (error["code"], error["message"]) == (
        "read-only",
        "this document is read-only; edits are not accepted",
    )
    await owner.close()
    await viewer.close()


async def test_signing_out_closes_that_browsers_sockets_and_not_the_users_others():
    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    here, _, browser = await open_as("owner", document)
    other_browser = Client()
    await sync_to_async(other_browser.force_login)(await User.objects.aget(username="owner"))
    elsewhere = tab_of(other_browser)
    await elsewhere.open()
    assert (await sync_to_async(browser.post)("/accounts/logout/")).status_code == 302
    error = await here.receive_type("error")
    assert (error["code"], "you signed out" in error["message"]) == ("forbidden", True)
    assert await here.communicator.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 4403,
    }
    await here.communicator.disconnect(code=4403)
    # The other browser is still signed in, and still edits.
    await elsewhere.send({"type": "op", "rev": 3, "op": [5, "!"], "id": "still"})
    assert (await elsewhere.receive_type("ack"))["id"] == "still"
    await elsewhere.close()


async def test_a_change_whose_message_was_lost_is_found_at_the_next_ping():
    """The change's broadcast can be lost (Redis away); the ping compares access_rev and reads again."""
    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    editor, _, _ = await open_as("shared-editor", document)
    await Share.objects.filter(document=document).aupdate(role="viewer")
    await sync_to_async(grants.documents.bump_access_rev)(document_ids=[document.pk])  # nobody told
    await editor.send({"type": "ping"})
    frames = await editor.receive_until(lambda f: f["type"] == "mode")
    assert frames[-1] == {"type": "mode", "read_only": True, "role": "viewer", "locked": False}
    await editor.close()


async def test_a_version_is_saved_under_the_rights_the_document_has_now_not_those_last_told():
    """Like an edit: a viewer whose demotion's message was lost is refused, and told."""
    from editor.models import Version

    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    editor, _, _ = await open_as("shared-editor", document)
    await Share.objects.filter(document=document).aupdate(role="viewer")
    await sync_to_async(grants.documents.bump_access_rev)(document_ids=[document.pk])  # nobody told
    await editor.send({"type": "save-version", "rev": 0, "name": "mine"})
    frames = await editor.receive_until(lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "read-only"
    assert {"type": "mode", "read_only": True, "role": "viewer", "locked": False} in frames
    assert await Version.objects.acount() == 0
    await editor.close()


async def test_a_connection_being_refused_is_never_shown_to_anyone(monkeypatch):
    """It is in the hub while its rights are read (no broadcast falls between), not in anyone's list."""
    import threading

    from editor import services

    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    watcher, watcher_first, _ = await open_as("owner", document)
    reading, release = threading.Event(), threading.Event()
    connect = services.session_connect

    def slow_connect(**kwargs):
        if kwargs["visitor"].user_id is None:  # the stranger's
            reading.set()
            release.wait(TIMEOUT)
        return connect(**kwargs)

    monkeypatch.setattr(services, "session_connect", slow_connect)
    stranger = tab_of(Client())
    connecting = asyncio.ensure_future(stranger.communicator.connect(timeout=TIMEOUT))
    await asyncio.to_thread(reading.wait, TIMEOUT)
    newcomer, newcomer_first, _ = await open_as("owner", document)
    # Who is here comes in one answer from this process: the watcher, and nobody else.
    await newcomer.receive_until(lambda f: f["type"] == "person" and f["session"] == watcher_first["session"])
    release.set()
    await connecting
    assert (await stranger.receive())["code"] == "forbidden"
    await newcomer.send({"type": "ping"})  # everything sent to it before is read by the pong
    await newcomer.receive_type("pong")
    frames = newcomer.received
    seen = {f["session"] for f in frames if f["type"] == "person"}
    assert seen <= {watcher_first["session"], newcomer_first["session"]}
    await watcher.close()
    await newcomer.close()


async def test_two_shares_given_at_once_on_one_document_both_take_effect(django_user_model, monkeypatch):
    """Both inserted before either grows access_rev: both take effect, access_rev grows by two
    (Django's foreign keys are checked at COMMIT, so an insert holds no lock on the document that
    the row lock of the other's bump would wait for)."""
    import threading

    from django.db import connection, transaction

    document = await sync_to_async(make_document)(Visibility.PRIVATE)
    users = [await django_user_model.objects.acreate_user(f"u{n}") for n in range(2)]
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    bump = grants.documents.bump_access_rev
    errors = []

    def bump_after_both_inserted(**kwargs):
        barrier.wait()
        return bump(**kwargs)

    def give(user):
        try:
            with transaction.atomic():
                grants.share(document=document, user=user, role=Role.VIEWER)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    monkeypatch.setattr(grants.documents, "bump_access_rev", bump_after_both_inserted)
    await asyncio.gather(*(asyncio.to_thread(give, user) for user in users))
    assert errors == []
    assert await Share.objects.filter(document=document).acount() == 2
    assert (await Document.objects.aget(pk=document.pk)).access_rev == 2
