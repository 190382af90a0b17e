"""Real Daphne worker processes sharing the real Redis and PostgreSQL.

Each claim about several processes is tested with several processes: typing
crosses workers, concurrent typing converges, and a restart of every worker
loses nothing.
"""

import asyncio
import contextlib
import random
import re

import pytest
from asgiref.sync import sync_to_async

from editor import ot
from tests.admin_http import OPERATOR_PASSWORD, AdminBrowser, create_operator
from tests.documents import aread_document
from tests.livetab import LiveTab

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_workers(start_worker):
    return start_worker("a"), start_worker("b")


async def test_typing_on_one_worker_reaches_a_tab_on_the_other_and_back(two_workers):
    worker_a, worker_b = two_workers
    on_a = LiveTab(worker_a.ws_url, "cross", "on-a")
    on_b = LiveTab(worker_b.ws_url, "cross", "on-b")
    await on_a.connect()
    await on_b.connect()
    await on_a.insert(0, "from A")
    await on_b.wait_for(lambda: on_b.text == "from A", what="A's typing on B")
    await on_b.insert(6, ", from B")
    await on_a.wait_for(lambda: on_a.text == "from A, from B", what="B's typing on A")
    # Each worker logged its own connection, with its own pid.
    assert re.search(
        rf"connect doc=cross session=\w+ client=127\.0\.0\.1:\d+ worker=\S+:{worker_a.pid} people=",
        worker_a.log(),
    )
    assert re.search(
        rf"connect doc=cross session=\w+ client=127\.0\.0\.1:\d+ worker=\S+:{worker_b.pid} people=2",
        worker_b.log(),
    )
    await on_a.close()
    await on_b.close()


async def test_an_idle_connection_outlives_the_redis_client_timeout(two_workers):
    """redis-py 8 times sockets out after 5 s; an idle document must still get broadcasts."""
    worker_a, worker_b = two_workers
    listener = LiveTab(worker_a.ws_url, "idle", "listener")
    await listener.connect()
    await asyncio.sleep(6)  # the behaviour under test is idleness itself
    typist = LiveTab(worker_b.ws_url, "idle", "typist")
    await typist.connect()
    await typist.insert(0, "still there?")
    await listener.wait_for(lambda: listener.text == "still there?", what="a broadcast after idling")
    await listener.close()
    await typist.close()


class Typist:
    """Random edits whose every insert can be found again at the end.

    Each insert carries one unique character (from a block of CJK ideographs
    of its own) that nobody deletes, plus filler dots; deletes only remove
    dots. A keystroke lost anywhere shows up as a missing unique character.
    """

    def __init__(self, tab: LiveTab, index: int, rng: random.Random) -> None:
        self.tab = tab
        self.rng = rng
        self.next_char = 0x4E00 + index * 0x400
        self.typed: list[str] = []

    def next_edit(self) -> ot.Operation:
        text = self.tab.text
        dots = [i for i, char in enumerate(text) if char == "."]
        if dots and self.rng.random() < 0.3:
            start = self.rng.choice(dots)
            return ot.normalize([start, -1, len(text) - start - 1])
        char = chr(self.next_char)
        self.next_char += 1
        self.typed.append(char)
        position = self.rng.randint(0, len(text))
        return ot.normalize([position, char + "." * self.rng.randint(0, 2), len(text) - position])

    async def type_for(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            await self.tab.edit(self.next_edit())
            await asyncio.sleep(self.rng.uniform(0.002, 0.03))  # typing speed, not synchronisation


async def test_concurrent_random_typing_on_two_workers_converges_with_nothing_lost(two_workers):
    rng = random.Random(20261125)
    tabs = [LiveTab(two_workers[i % 2].ws_url, "storm", f"t{i}") for i in range(6)]
    for tab in tabs:
        await tab.connect()
    typists = [Typist(tab, i, rng) for i, tab in enumerate(tabs)]
    await asyncio.gather(*(typist.type_for(4) for typist in typists))

    for tab in tabs:
        await tab.wait_synchronised()
    rev, text = await aread_document("storm")
    for tab in tabs:
        await tab.wait_synchronised(rev=rev)
    assert {tab.text for tab in tabs} == {text}
    typed = [char for typist in typists for char in typist.typed]
    assert len(typed) > 200, "the typists should have typed a lot"
    missing = [char for char in typed if text.count(char) != 1]
    assert not missing, f"{len(missing)} keystrokes lost or duplicated"
    # Edits made on stale revisions, which the server had to transform, really happened.
    stale = [ack for tab in tabs for ack in tab.acks() if ack["rev"] - tab.sent_bases[ack["id"]] > 1]
    assert len(stale) > 20
    for tab in tabs:
        await tab.close()


async def test_a_restart_of_every_worker_keeps_the_document_and_offline_typing(start_worker):
    first = start_worker("before")
    writer = LiveTab(first.ws_url, "durable", "writer")
    await writer.connect()
    for word in ["one ", "two ", "three "]:
        await writer.insert(len(writer.text), word)
    await writer.wait_synchronised()
    rev_before = writer.client.rev
    first.stop()
    # Typing goes on while no server runs; it is kept and sent on reconnect.
    await writer.wait_for(lambda: not writer.client.live, what="the socket to close")
    await writer.insert(len(writer.text), "offline")
    after = start_worker("after")
    await writer.reconnect(after.ws_url)
    await writer.wait_synchronised(rev=rev_before + 1)
    reader = LiveTab(after.ws_url, "durable", "reader")
    await reader.connect()
    assert reader.frames[0]["type"] == "snapshot"
    assert (reader.frames[0]["rev"], reader.text) == (rev_before + 1, "one two three offline")
    assert await aread_document("durable") == (rev_before + 1, "one two three offline")
    await writer.close()
    await reader.close()


async def test_presence_crosses_workers_and_an_admin_on_one_disconnects_a_session_on_the_other(two_workers):
    worker_a, worker_b = two_workers
    await sync_to_async(create_operator)()
    on_a = LiveTab(worker_a.ws_url, "crossing", "on-a")
    on_b = LiveTab(worker_b.ws_url, "crossing", "on-b")
    await on_a.connect()
    await on_b.connect()
    session_a = on_a.frames[0]["session"]
    await on_a.send_raw({"type": "caret", "rev": 0, "caret": [0, 0]})
    await on_b.wait_for(
        lambda: any(
            f["type"] == "person" and f["session"] == session_a and f["caret"] == [0, 0] for f in on_b.frames
        ),
        what="A's caret on B",
    )

    admin = AdminBrowser(worker_b.http_url)
    await asyncio.to_thread(admin.log_in, "operator", OPERATOR_PASSWORD)
    changelist = await asyncio.to_thread(admin.get, f"/admin/editor/editingsession/?active=yes&q={session_a}")
    [session_pk] = AdminBrowser.object_ids(changelist)
    await asyncio.to_thread(
        admin.post,
        "/admin/editor/editingsession/",
        {"action": "disconnect", "_selected_action": session_pk, "reason": "crossing workers", "index": "0"},
    )

    def kick() -> dict | None:
        return next((f for f in on_a.frames if f["type"] == "error" and f["code"] == "disconnected"), None)

    await on_a.wait_for(lambda: kick() is not None, what="the kick")
    assert "crossing workers" in kick()["message"]
    await on_a.wait_for(lambda: not on_a.client.live, what="the socket to close")
    assert on_a.socket.close_code == 4001
    await on_b.wait_for(
        lambda: {"type": "leave", "session": session_a} in on_b.frames, what="B to hear that A left"
    )
    await on_b.close()


async def test_a_killed_workers_sessions_are_closed_within_the_promised_time(start_worker):
    fast = {"EDITOR_HEARTBEAT_SECONDS": "0.5", "EDITOR_SESSION_TIMEOUT_SECONDS": "2"}
    doomed, survivor = start_worker("doomed", **fast), start_worker("survivor", **fast)
    victims = [LiveTab(doomed.ws_url, "crash", f"victim{i}") for i in range(2)]
    witness = LiveTab(survivor.ws_url, "crash", "witness")
    for tab in [*victims, witness]:
        await tab.connect()
    victim_sessions = {tab.frames[0]["session"] for tab in victims}

    doomed.kill()
    killed_at = asyncio.get_running_loop().time()
    await witness.wait_for(
        lambda: victim_sessions <= {f["session"] for f in witness.frames if f["type"] == "leave"},
        what="the dead worker's sessions to be closed",
        timeout=10,
    )
    elapsed = asyncio.get_running_loop().time() - killed_at
    assert elapsed < 2 + 0.5 + 1, f"took {elapsed:.1f} s; promised timeout + heartbeat = 2.5 s"
    for tab in victims:
        await tab.drop()
    await witness.close()


def make_shared_document(slug: str):
    """A private document shared with ``reader`` as editor, whose password a worker checks."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    from editor.access import grants
    from editor.access.rules import Role, Visibility
    from editor.models import Document

    owner = User.objects.create(username="owner")
    reader = User.objects.create(
        username="reader", password=make_password(OPERATOR_PASSWORD, hasher="pbkdf2_sha256")
    )
    document = Document.objects.create(slug=slug, owner=owner, visibility=Visibility.PRIVATE.value)
    return grants.share(document=document, user=reader, role=Role.EDITOR).pk


async def test_a_share_removed_in_the_admin_on_one_worker_closes_the_socket_on_the_other_within_a_second(
    two_workers,
):
    import json
    import time

    import websockets

    worker_a, worker_b = two_workers
    await sync_to_async(create_operator)()
    share_pk = await sync_to_async(make_shared_document)("shared")
    reader = AdminBrowser(worker_a.http_url)  # signs in through the site's own page, on A
    await asyncio.to_thread(reader.get, "/accounts/login/")
    await asyncio.to_thread(
        reader.post, "/accounts/login/", {"username": "reader", "password": OPERATOR_PASSWORD}
    )
    session = next(cookie.value for cookie in reader.cookies if cookie.name == "sessionid")
    socket = await websockets.connect(
        f"{worker_a.ws_url}/ws/docs/shared/",
        origin=worker_a.http_url,
        additional_headers={"Cookie": f"sessionid={session}"},
    )
    first = json.loads(await socket.recv())
    assert (first["type"], first["role"]) == ("snapshot", "editor")

    admin = AdminBrowser(worker_b.http_url)
    await asyncio.to_thread(admin.log_in, "operator", OPERATOR_PASSWORD)
    asked = time.monotonic()
    await asyncio.to_thread(
        admin.post,
        "/admin/editor/share/",
        {"action": "delete_selected", "_selected_action": share_pk, "post": "yes"},
    )
    frames = []
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(5):
            async for message in socket:
                frames.append(json.loads(message))
    closed_after = time.monotonic() - asked
    print(f"share removed on B -> socket on A closed after {closed_after * 1000:.0f} ms")
    forbidden = [f for f in frames if f["type"] == "error"]
    assert [f["code"] for f in forbidden] == ["forbidden"]
    assert socket.protocol.close_rcvd.code == 4403
    assert closed_after < 1.0
    # And it cannot come back.
    again = await websockets.connect(
        f"{worker_a.ws_url}/ws/docs/shared/",
        origin=worker_a.http_url,
        additional_headers={"Cookie": f"sessionid={session}"},
    )
    assert json.loads(await again.recv())["code"] == "forbidden"
    with contextlib.suppress(websockets.ConnectionClosed):
        await again.recv()
    assert again.protocol.close_rcvd.code == 4403


async def test_an_operator_restores_and_reverts_in_the_admin_on_one_worker_and_tabs_on_the_other_follow(
    two_workers,
):
    from editor.models import Document, Operation

    worker_a, worker_b = two_workers
    await sync_to_async(create_operator)()
    ann = LiveTab(worker_a.ws_url, "operated", "ann")
    bob = LiveTab(worker_a.ws_url, "operated", "bob")
    await ann.connect()
    await bob.connect()
    await ann.insert(0, "good text")
    await ann.wait_synchronised()
    kept = ann.client.rev
    await bob.wait_for(lambda: bob.text == "good text", what="Ann's text on Bob's tab")
    await bob.insert(9, " and spam")
    await ann.insert(0, "My ")
    await ann.wait_for(lambda: ann.text == "My good text and spam", what="both edits")
    await bob.wait_synchronised()

    document = await Document.objects.aget(slug="operated")
    admin = AdminBrowser(worker_b.http_url)
    await asyncio.to_thread(admin.log_in, "operator", OPERATOR_PASSWORD)
    page = f"/admin/editor/document/{document.pk}/revisions/"
    change_page = await asyncio.to_thread(admin.get, f"/admin/editor/document/{document.pk}/change/")
    assert page in change_page, "the document's page links to its revisions"
    form = await asyncio.to_thread(admin.get, page)
    bob_key = f"session:{bob.frames[0]['session']}"
    assert f'value="{bob_key}"' in form, "Bob is among the authors one may revert"

    # Revert Bob: his " and spam" goes, Ann's later "My " stays; on the other worker's tabs too.
    done = await asyncio.to_thread(admin.post, page, {"do": "revert", "author": bob_key})
    assert "by you" in done
    for tab in (ann, bob):
        await tab.wait_for(lambda tab=tab: tab.text == "My good text", what="the revert on worker A")
    # Restore the revision before Ann's "My ".
    await asyncio.to_thread(admin.post, page, {"do": "restore", "rev": str(kept)})
    for tab in (ann, bob):
        await tab.wait_for(lambda tab=tab: tab.text == "good text", what="the restore on worker A")
    refused = await asyncio.to_thread(admin.post, page, {"do": "restore", "rev": "999"})
    assert "does not exist yet" in refused
    nothing = await asyncio.to_thread(admin.post, page, {"do": "restore", "rev": str(kept)})
    assert "Nothing to change" in nothing

    last_two = [op async for op in Operation.objects.filter(document=document).order_by("-rev")[:2]]
    sessions = {op.session_id async for op in Operation.objects.filter(pk__in=[op.pk for op in last_two])}
    assert len(sessions) == 1, "both by the operator's one session"
    [session_id] = sessions
    from editor.models import EditingSession

    operator_session = await EditingSession.objects.select_related("user").aget(session_id=session_id)
    assert (operator_session.user.username, operator_session.worker) == ("operator", "admin")
    assert await aread_document("operated") == (last_two[0].rev, "good text")
    await ann.close()
    await bob.close()
