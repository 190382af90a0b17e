"""Presence over the consumer: who is here, where their caret is, names, modes, disconnects."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from editor import services
from editor.live import notify, worker
from editor.models import Document, EditingSession
from editor.store import documents
from editor.wire import protocol
from tests.documents import anew_document, aread_document
from tests.tabs import ORIGIN, TIMEOUT, Tab, open_tab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer_kind")]


async def next_person(tab: Tab, session: str | None = None) -> dict:
    """The next ``person`` frame (about ``session``, if given)."""
    while True:
        frame = await tab.receive_type("person")
        if session is None or frame["session"] == session:
            return frame


async def test_people_see_each_other_join_with_name_and_colour():
    alice, alice_first = await open_tab(query="?name=Alice")
    assert (alice_first["name"], alice_first["color"].startswith("#")) == ("Alice", True)
    bob, bob_first = await open_tab(query="?name=Bob")
    joined = await next_person(alice, bob_first["session"])
    assert joined == {
        "type": "person",
        "session": bob_first["session"],
        "person": bob_first["session"],  # no browser session (cookie): a person of its own
        "seq": joined["seq"],
        "name": "Bob",
        "color": bob_first["color"],
        "caret": None,
        "rev": None,
        "signed_in": False,
        "role": "editor",
    }
    # The newcomer learns who was already there, from each of them.
    already_there = await next_person(bob, alice_first["session"])
    assert already_there["name"] == "Alice"
    await alice.close()
    await bob.close()


async def test_a_caret_move_reaches_the_others_with_its_revision():
    alice, alice_first = await open_tab()
    bob, _ = await open_tab()
    await alice.send({"type": "caret", "rev": 0, "caret": [0, 0]})
    moved = await next_person(bob, alice_first["session"])
    while moved["caret"] is None:  # her arrival came first
        moved = await next_person(bob, alice_first["session"])
    assert (moved["caret"], moved["rev"]) == ([0, 0], 0)
    await alice.close()
    await bob.close()


async def test_a_late_joiner_learns_where_everyone_is():
    alice, alice_first = await open_tab()
    await alice.send({"type": "op", "rev": 0, "op": ["hello"], "id": "a1"})
    await alice.receive_type("ack")
    await alice.send({"type": "caret", "rev": 1, "caret": [1, 4]})
    carol, _ = await open_tab()
    # Broadcasts from before she came may still reach her (the Redis layer
    # fans out on arrival); the newest frame, by seq, is the truth.
    latest = await next_person(carol, alice_first["session"])
    while latest["caret"] is None:
        newer = await next_person(carol, alice_first["session"])
        latest = max(latest, newer, key=lambda frame: frame["seq"])
    assert (latest["caret"], latest["rev"]) == ([1, 4], 1)
    await alice.close()
    await carol.close()


async def test_leaving_is_announced():
    alice, _ = await open_tab()
    bob, bob_first = await open_tab()
    await bob.close()
    assert await alice.receive_type("leave") == {"type": "leave", "session": bob_first["session"]}
    await alice.close()


async def test_caret_updates_are_coalesced_and_the_last_position_always_arrives():
    """Eleven moves in a burst reach the others as one or two updates, the last one the final position."""
    await anew_document("doc", text="0123456789")
    alice, alice_first = await open_tab()
    bob, _ = await open_tab()
    for position in range(11):
        await alice.send({"type": "caret", "rev": 0, "caret": [position, position]})
    last = None
    async with asyncio.timeout(TIMEOUT):
        while last is None or last["caret"] != [10, 10]:
            last = await next_person(bob, alice_first["session"])
    # Carol's arrival reaches bob after whatever of alice's was still on its way.
    carol, carol_first = await open_tab()
    later = await bob.receive_until(
        lambda f: f["type"] == "person" and f["session"] == carol_first["session"]
    )
    assert [f for f in later if f.get("session") == alice_first["session"]] == [], "nothing after the last"
    relayed = [f for f in bob.received if f["type"] == "person" and f["caret"] is not None]
    assert len(relayed) <= 3, f"{len(relayed)} caret frames relayed for a burst of 11"
    for tab in (alice, bob, carol):
        await tab.close()


async def test_a_caret_out_of_order_is_refused():
    tab, _ = await open_tab()
    await tab.send({"type": "caret", "rev": 0, "caret": [5, 2]})
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.close()


async def test_renaming_is_seen_by_others_and_recorded():
    alice, alice_first = await open_tab(query="?name=Alice")
    bob, _ = await open_tab()
    await alice.send({"type": "rename", "name": "  Alice\u0000 the\nGreat  "})
    echo = await next_person(alice, alice_first["session"])  # the renamer hears its new name and colour
    assert (echo["name"], echo["color"].startswith("#")) == ("Alice the Great", True)
    renamed = await next_person(bob, alice_first["session"])
    while renamed["name"] == "Alice":
        renamed = await next_person(bob, alice_first["session"])
    assert renamed["name"] == "Alice the Great"
    session = await EditingSession.objects.aget(session_id=alice_first["session"])
    assert session.display_name == "Alice the Great"
    await alice.send({"type": "rename", "name": " \t "})
    assert (await alice.receive_type("error"))["code"] == "invalid-frame"
    await alice.send({"type": "rename", "name": "Again"})
    assert (await alice.receive_type("error"))["code"] == "rename-too-fast"
    await alice.close()
    await bob.close()


async def test_a_name_is_generated_when_none_is_given():
    tab, first = await open_tab()
    adjective, animal = first["name"].split()
    assert adjective[0].isupper()
    assert animal[0].isupper()
    await tab.close()


async def browser_cookie(user: User | None = None) -> tuple[bytes, bytes]:
    """The cookie header of a new browser that opened the page (signed in as ``user``)."""
    browser = Client()
    if user is not None:
        await sync_to_async(browser.force_login)(user)
    await sync_to_async(browser.get)("/d/doc/")
    return (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())


async def test_the_tabs_of_one_browser_or_of_one_user_are_one_person():
    """Issue 17: three tabs of one browser were three people in everyone's list."""
    one_browser, other_browser = await browser_cookie(), await browser_cookie()
    first_tab = Tab("/ws/docs/doc/", headers=[ORIGIN, one_browser])
    first = await first_tab.open()
    second_tab = Tab("/ws/docs/doc/", headers=[ORIGIN, one_browser])
    second = await second_tab.open()
    elsewhere_tab = Tab("/ws/docs/doc/", headers=[ORIGIN, other_browser])
    elsewhere = await elsewhere_tab.open()
    assert first["person"] == second["person"] != elsewhere["person"]
    assert first["session"] != second["session"]
    seen = await next_person(elsewhere_tab, second["session"])
    assert seen["person"] == first["person"]
    stored = await EditingSession.objects.aget(session_id=second["session"])
    assert stored.person == first["person"]

    grace = await User.objects.acreate_user("grace", password="x" * 12)
    laptop, phone = await browser_cookie(grace), await browser_cookie(grace)
    on_laptop, on_phone = Tab("/ws/docs/doc/", [ORIGIN, laptop]), Tab("/ws/docs/doc/", [ORIGIN, phone])
    laptop_first, phone_first = await on_laptop.open(), await on_phone.open()
    assert laptop_first["person"] == phone_first["person"] not in (first["person"], elsewhere["person"])
    # The cookie itself is in no frame anyone got.
    cookies = [cookie[1].split(b"=")[1].decode() for cookie in (one_browser, other_browser, laptop, phone)]
    everything = json.dumps(
        [tab.received for tab in (first_tab, second_tab, elsewhere_tab, on_laptop, on_phone)]
    )
    assert not any(cookie in everything for cookie in cookies)
    # On another document the same browser is another key: nobody links a guest's documents.
    other_document = Tab("/ws/docs/other/", headers=[ORIGIN, one_browser])
    assert (await other_document.open())["person"] != first["person"]
    await other_document.close()
    for tab in (first_tab, second_tab, elsewhere_tab, on_laptop, on_phone):
        await tab.close()


async def test_signed_in_people_appear_under_their_user_name():
    user = await User.objects.acreate_user("grace", password="x" * 12)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    tab = Tab("/ws/docs/doc/?name=Impostor", headers=[ORIGIN, (b"cookie", cookie)])
    first = await tab.open()
    assert first["name"] == "grace"
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.user_id == user.pk
    await tab.send({"type": "rename", "name": "Someone else"})
    assert (await tab.receive_type("error"))["code"] == "rename-refused"
    await tab.close()


async def test_a_read_only_document_refuses_edits_and_open_pages_are_told():
    tab, first = await open_tab()
    assert first["read_only"] is False
    document = await Document.objects.aget(slug="doc")
    slugs = await sync_to_async(documents.set_read_only)(document_ids=[document.pk], read_only=True)
    await notify.access_changed(slugs)
    assert await tab.receive_type("mode") == {
        "type": "mode",
        "read_only": True,
        "role": "editor",
        "locked": True,
    }
    await tab.send({"type": "op", "rev": 0, "op": ["x"], "id": "ro1"})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("read-only", "ro1")
    late, late_first = await open_tab()
    assert late_first["read_only"] is True
    assert (await aread_document("doc"))[1] == ""
    await tab.close()
    await late.close()


async def test_an_operator_disconnect_closes_the_session_with_the_reason():
    tab, first = await open_tab()
    await notify.disconnect([("doc", first["session"])], "please stop")
    error = await tab.receive_type("error")
    assert error["code"] == "disconnected"
    assert "please stop" in error["message"]
    assert await tab.communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4001}
    await tab.communicator.disconnect(code=4001)
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.disconnected_at is not None


async def test_edits_sent_are_counted_in_the_session():
    tab, first = await open_tab()
    for n in range(3):
        await tab.send({"type": "op", "rev": n, "op": [n, "x"] if n else ["x"], "id": f"c{n}"})
        await tab.receive_type("ack")
    await tab.close()
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.ops_sent == 3


async def test_tabs_connecting_at_once_all_hear_the_document():
    """The first connections of a process start its hub together: one channel, joined to the group."""
    tabs = await asyncio.gather(*(open_tab() for _ in range(8)))
    await Document.objects.filter(slug="doc").aupdate(read_only=True)
    await notify.access_changed(["doc"])
    for tab, _ in tabs:
        assert await tab.receive_type("mode") == {
            "type": "mode",
            "read_only": True,
            "role": "editor",
            "locked": True,
        }
    for tab, _ in tabs:
        await tab.close()


async def test_a_connection_that_fails_to_start_leaves_no_ghost(fail_once):
    alice, alice_first = await open_tab()
    hub = (await worker.current()).hub
    fail_once(services, "session_connect")
    ghost = Tab("/ws/docs/doc/")
    connected, _ = await ghost.communicator.connect(timeout=TIMEOUT)
    assert connected  # the handshake is accepted first; the start then fails
    with pytest.raises(RuntimeError, match="on fire"):  # Daphne closes such a socket with 1011
        await asyncio.wait_for(asyncio.shield(ghost.communicator.future), TIMEOUT)
    assert list(hub.rooms["doc"]) == [alice_first["session"]]
    carol, carol_first = await open_tab()
    # Who is here reaches carol as she joins; alice's move comes after it.
    await alice.send({"type": "caret", "rev": 0, "caret": [0, 0]})
    frames = await carol.receive_until(
        lambda f: f["type"] == "person" and f["session"] == alice_first["session"] and f["caret"] == [0, 0]
    )
    others = {
        f["session"] for f in frames if f["type"] == "person" and f["session"] != carol_first["session"]
    }
    assert others == {alice_first["session"]}
    await alice.close()
    await carol.close()


async def test_a_disconnect_when_the_channel_layer_fails_still_closes_the_session(monkeypatch):
    tab, first = await open_tab()
    live = await worker.current()

    async def layer_down(*args):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(live.hub.layer, "group_discard", layer_down)
    with pytest.raises(ConnectionError):
        await tab.close()
    assert first["session"] not in live.liveness.sessions
    session = await EditingSession.objects.aget(session_id=first["session"])
    assert session.disconnected_at is not None


async def test_a_late_update_does_not_undo_a_leave():
    alice, _ = await open_tab()
    hub = (await worker.current()).hub
    hub.presence_changed("doc", "bob", protocol.leave_frame(session="bob"), leaving=True)
    hub.presence_changed(
        "doc",
        "bob",
        protocol.person_frame(session="bob", seq=9, name="Bob", color="#000000", caret=None, rev=None),
    )
    # Carol's update, a tick later, comes after whatever there was about bob.
    hub.presence_changed(
        "doc",
        "carol",
        protocol.person_frame(session="carol", seq=1, name="Carol", color="#000000", caret=None, rev=None),
    )
    frames = await alice.receive_until(lambda f: f.get("session") == "carol")
    assert [f for f in frames if f.get("session") == "bob"] == [{"type": "leave", "session": "bob"}]
    await alice.close()
