"""Sessions stay true when processes die: heartbeats, expiry, leftovers, the command."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.utils import timezone

from editor import liveness
from editor.models import Document, EditingSession
from tests.tabs import open_tab

pytestmark = pytest.mark.django_db(transaction=True)


def stale_session(document: Document, session_id: str, *, worker: str = "dead:1", age: float = 3600):
    long_ago = timezone.now() - timedelta(seconds=age)
    session = EditingSession.objects.create(document=document, session_id=session_id, worker=worker)
    EditingSession.objects.filter(pk=session.pk).update(connected_at=long_ago, last_seen=long_ago)
    return session


async def test_a_check_vouches_for_this_workers_sessions_and_records_their_edits(settings):
    tab, first = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": ["x"], "id": "e1"})
    await tab.receive_type("ack")
    before = (await EditingSession.objects.aget(session_id=first["session"])).last_seen
    await liveness.worker_sessions.check()
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.last_seen > before
    assert session.ops_sent == 1
    await tab.close()


async def test_a_silent_session_is_closed_and_its_document_told(settings):
    settings.EDITOR_SESSION_TIMEOUT_SECONDS = 30
    tab, _ = await open_tab()
    document = await Document.objects.aget(slug="doc")
    ghost = await EditingSession.objects.acreate(document=document, session_id="ghost", worker="dead:1")
    await EditingSession.objects.filter(pk=ghost.pk).aupdate(last_seen=timezone.now() - timedelta(seconds=31))
    closed = await liveness.worker_sessions.check()
    assert [c.session_id for c in closed] == ["ghost"]
    assert (await EditingSession.objects.aget(session_id="ghost")).disconnected_at is not None
    assert await tab.receive_type("leave") == {"type": "leave", "session": "ghost"}
    while (await tab.receive_type("presence"))["people"] != 1:
        pass
    await tab.close()


async def test_a_session_heard_from_recently_is_kept(settings):
    settings.EDITOR_SESSION_TIMEOUT_SECONDS = 30
    document = await Document.objects.acreate(slug="doc")
    await EditingSession.objects.acreate(document=document, session_id="recent", worker="other:1")
    assert await liveness.worker_sessions.check() == []
    assert (await EditingSession.objects.aget(session_id="recent")).disconnected_at is None


def test_a_new_worker_closes_what_its_predecessor_left_open(settings):
    settings.WORKER_ID = "web1"
    document = Document.objects.create(slug="doc")
    stale_session(document, "left-over", worker="web1", age=5)
    stale_session(document, "elsewhere", worker="web2", age=5)
    sessions = liveness.WorkerSessions()
    closed = async_to_sync(sessions.check)()
    assert [c.session_id for c in closed] == ["left-over"]
    assert EditingSession.objects.get(session_id="elsewhere").disconnected_at is None


def test_the_management_command_expires_silent_sessions(capsys):
    document = Document.objects.create(slug="doc")
    stale_session(document, "old")
    EditingSession.objects.create(document=document, session_id="fresh", worker="w:1")
    call_command("expire_sessions")
    assert "closed 1 session(s)" in capsys.readouterr().out
    assert EditingSession.objects.get(session_id="old").disconnected_at is not None
    assert EditingSession.objects.get(session_id="fresh").disconnected_at is None


async def test_a_live_session_wrongly_expired_is_reopened_by_its_workers_heartbeat():
    tab, first = await open_tab()
    await EditingSession.objects.filter(session_id=first["session"]).aupdate(disconnected_at=timezone.now())
    await liveness.worker_sessions.check()
    assert (await EditingSession.objects.aget(session_id=first["session"])).disconnected_at is None
    await tab.close()
