"""Sessions stay true when processes die: heartbeats, expiry, leftovers, the command."""

import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.management import call_command
from django.utils import timezone

from editor import services
from editor.live import liveness, worker
from editor.models import Document, EditingSession
from tests.documents import anew_document, new_document
from tests.tabs import open_tab

pytestmark = pytest.mark.django_db(transaction=True)


def stale_session(document: Document, session_id: str, *, worker: str = "dead:1", age: float = 3600):
    long_ago = timezone.now() - timedelta(seconds=age)
    session = EditingSession.objects.create(document=document, session_id=session_id, worker=worker)
    EditingSession.objects.filter(pk=session.pk).update(connected_at=long_ago, last_seen=long_ago)
    return session


astale_session = sync_to_async(stale_session)


async def test_a_check_vouches_for_this_workers_sessions_and_records_their_edits():
    tab, first = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": ["x"], "id": "e1"})
    await tab.receive_type("ack")
    before = (await EditingSession.objects.aget(session_id=first["session"])).last_seen
    await (await worker.current()).liveness.check()
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.last_seen > before
    assert session.ops_sent == 1
    await tab.close()


async def healthy_for_a_while(settings) -> liveness.Liveness:
    """This worker's sessions, vouched for without a failure for longer than the timeout."""
    sessions = (await worker.current()).liveness
    sessions.healthy_since = time.monotonic() - settings.EDITOR_SESSION_TIMEOUT_SECONDS
    return sessions


async def test_a_silent_session_is_closed_and_its_document_told(settings):
    settings.EDITOR_SESSION_TIMEOUT_SECONDS = 30
    tab, _ = await open_tab()
    await astale_session(await Document.objects.aget(slug="doc"), "ghost", age=31)
    closed = await (await healthy_for_a_while(settings)).check()
    assert [c.session_id for c in closed] == ["ghost"]
    assert (await EditingSession.objects.aget(session_id="ghost")).disconnected_at is not None
    assert await tab.receive_type("leave") == {"type": "leave", "session": "ghost"}
    await tab.close()


async def test_a_session_heard_from_recently_is_kept(settings):
    settings.EDITOR_SESSION_TIMEOUT_SECONDS = 30
    await EditingSession.objects.acreate(
        document=await anew_document("doc"), session_id="recent", worker="other:1"
    )
    assert await (await healthy_for_a_while(settings)).check() == []
    assert (await EditingSession.objects.aget(session_id="recent")).disconnected_at is None


def test_a_new_worker_closes_what_its_predecessor_left_open(settings):
    settings.WORKER_ID = "web1"
    document = new_document("doc")
    stale_session(document, "left-over", worker="web1", age=5)
    stale_session(document, "elsewhere", worker="web2", age=5)
    sessions = liveness.Liveness(services.session_records, started_at=timezone.now())  # a new process
    closed = async_to_sync(sessions.check)()
    assert [c.session_id for c in closed] == ["left-over"]
    assert EditingSession.objects.get(session_id="elsewhere").disconnected_at is None


def test_the_management_command_expires_silent_sessions(capsys):
    document = new_document("doc")
    stale_session(document, "old")
    EditingSession.objects.create(document=document, session_id="fresh", worker="w:1")
    call_command("expire_sessions")
    assert "closed 1 session(s)" in capsys.readouterr().out
    assert EditingSession.objects.get(session_id="old").disconnected_at is not None
    assert EditingSession.objects.get(session_id="fresh").disconnected_at is None


async def test_a_live_session_wrongly_expired_is_reopened_by_its_workers_heartbeat():
    tab, first = await open_tab()
    await EditingSession.objects.filter(session_id=first["session"]).aupdate(disconnected_at=timezone.now())
    await (await worker.current()).liveness.check()
    assert (await EditingSession.objects.aget(session_id=first["session"])).disconnected_at is None
    await tab.close()


async def test_a_worker_just_back_from_a_database_outage_expires_nobody(settings):
    """Its own heartbeats failed too: the others' silence is the outage's, not their death."""
    settings.EDITOR_SESSION_TIMEOUT_SECONDS = 30
    await astale_session(await anew_document("doc"), "other", worker="w2:1", age=60)
    sessions = liveness.Liveness(services.session_records)
    sessions._cleaned_leftovers = True
    assert await sessions.check() == []  # healthy only since now
    sessions.healthy_since -= 30
    assert [c.session_id for c in await sessions.check()] == ["other"]


async def test_a_session_reopened_by_its_heartbeat_is_announced_again():
    alice, _ = await open_tab()
    bob, bob_first = await open_tab()
    await EditingSession.objects.filter(session_id=bob_first["session"]).aupdate(
        disconnected_at=timezone.now()
    )
    await (await worker.current()).liveness.check()
    while True:
        frame = await alice.receive_type("person")
        if frame["session"] == bob_first["session"] and frame["seq"] > 1:
            break
    await alice.close()
    await bob.close()


def test_heartbeats_scale_linearly_with_sessions(django_assert_max_num_queries):
    """One worker with 2,000 sessions vouches for them in a handful of queries."""
    document = new_document("many")
    EditingSession.objects.bulk_create(
        [EditingSession(document=document, session_id=f"s{n}", worker="w:1") for n in range(2000)]
    )
    ids = [f"s{n}" for n in range(2000)]
    with django_assert_max_num_queries(20):
        services.sessions_heartbeat(session_ids=ids, ops_sent={"s1": 5, "s2": 7})
    assert EditingSession.objects.get(session_id="s2").ops_sent == 7
