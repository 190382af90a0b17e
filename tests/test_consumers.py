"""The document consumer over WebsocketCommunicator, on the in-memory and the Redis channel layer."""

import logging

import pytest

from editor.models import Document, EditingSession, Operation, Version
from tests.documents import anew_document, aread_document
from tests.tabs import TIMEOUT, Tab, append, open_tab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer_kind")]


async def test_first_frame_is_a_snapshot_of_the_document():
    await anew_document("doc", text="hello", rev=4)
    tab, first = await open_tab()
    assert first == {
        "type": "snapshot",
        "rev": 4,
        "text": "hello",
        "session": first["session"],
        "person": first["session"],  # no browser session: a person of its own
        "name": first["name"],
        "color": first["color"],
        "people": 1,
        "read_only": False,
        "role": "editor",
        "locked": False,
    }
    assert len(first["session"]) == 12
    await tab.close()


async def test_an_edit_is_acknowledged_to_its_author_and_broadcast_to_the_others():
    alice, _ = await open_tab()
    bob, bob_snapshot = await open_tab()
    await alice.send({"type": "op", "rev": 0, "op": ["héllo 😀"], "id": "a:1"})
    assert await alice.receive_type("ack") == {"type": "ack", "rev": 1, "id": "a:1"}
    broadcast = await bob.receive_type("op")
    assert broadcast["op"] == ["héllo 😀"]
    assert broadcast["rev"] == 1
    assert broadcast["id"] == "a:1"
    assert broadcast["session"] != bob_snapshot["session"]
    assert await aread_document("doc") == (1, "héllo 😀")
    await alice.close()
    await bob.close()


async def test_a_late_joiner_gets_the_current_text():
    alice, _ = await open_tab()
    await alice.send({"type": "op", "rev": 0, "op": ["typed before you came"], "id": "a:1"})
    await alice.receive_type("ack")
    carol, snapshot = await open_tab()
    assert (snapshot["text"], snapshot["rev"]) == ("typed before you came", 1)
    await alice.close()
    await carol.close()


async def test_concurrent_edits_on_a_stale_revision_both_survive():
    alice, _ = await open_tab()
    bob, _ = await open_tab()
    await alice.send({"type": "op", "rev": 0, "op": ["A"], "id": "a:1"})
    await alice.receive_type("ack")
    await bob.send({"type": "op", "rev": 0, "op": ["B"], "id": "b:1"})  # made before seeing alice's
    assert (await bob.receive_type("ack"))["rev"] == 2
    transformed = await alice.receive_type("op")
    assert transformed["op"] == ["B", 1]
    assert (await aread_document("doc"))[1] == "BA"
    await alice.close()
    await bob.close()


async def test_a_resent_operation_is_acknowledged_again_but_not_applied_twice():
    alice, _ = await open_tab()
    bob, _ = await open_tab()
    await alice.send({"type": "op", "rev": 0, "op": ["x"], "id": "a:1"})
    await alice.receive_type("ack")
    await alice.send({"type": "op", "rev": 0, "op": ["x"], "id": "a:1"})
    assert await alice.receive_type("ack") == {"type": "ack", "rev": 1, "id": "a:1"}
    await alice.send({"type": "op", "rev": 1, "op": [1, "y"], "id": "a:2"})
    await alice.receive_type("ack")
    # Bob sees rev 1 then rev 2: the duplicate was not broadcast.
    assert [(await bob.receive_type("op"))["rev"] for _ in range(2)] == [1, 2]
    assert (await aread_document("doc"))[1] == "xy"
    await alice.close()
    await bob.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid-frame"),
        ("[1, 2]", "invalid-frame"),
        ("[" * 5000 + "]" * 5000, "invalid-frame"),
        ({"type": "dance"}, "unknown-type"),
        ({"rev": 0}, "unknown-type"),
        ({"type": "op", "rev": 0, "op": ["x"]}, "invalid-frame"),
        ({"type": "op", "rev": -1, "op": ["x"], "id": "i"}, "invalid-frame"),
        ({"type": "op", "rev": "0", "op": ["x"], "id": "i"}, "invalid-frame"),
        ({"type": "op", "rev": 0, "op": [0], "id": "i"}, "invalid-op"),
        ({"type": "op", "rev": 0, "op": [5], "id": "i"}, "invalid-op"),
        ({"type": "op", "rev": 0, "op": ["\ud800"], "id": "i"}, "invalid-op"),
        ({"type": "op", "rev": 0, "op": ["a\x00b"], "id": "i"}, "invalid-op"),
        ({"type": "op", "rev": 9, "op": ["x"], "id": "i"}, "future-revision"),
        ({"type": "fetch", "rev": None}, "invalid-frame"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(frame, code):
    tab, _ = await open_tab()
    await tab.send(frame)
    error = await tab.receive_type("error")
    assert error["code"] == code
    assert error["message"]
    await tab.send({"type": "op", "rev": 0, "op": ["still works"], "id": "ok:1"})
    assert (await tab.receive_type("ack"))["rev"] == 1
    assert await aread_document("doc") == (1, "still works")
    await tab.close()


async def test_binary_frames_are_refused():
    tab, _ = await open_tab()
    await tab.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.close()


async def test_an_oversized_frame_is_refused(settings):
    settings.EDITOR_MAX_FRAME_BYTES = 1000
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": ["x" * 2000], "id": "big"})
    assert (await tab.receive_type("error"))["code"] == "frame-too-large"
    assert (await Document.objects.aget(slug="doc")).rev == 0
    await tab.close()


async def test_a_document_cannot_grow_past_its_limit(settings):
    settings.EDITOR_MAX_DOCUMENT_CHARS = 10
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": ["x" * 11], "id": "big"})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("document-too-large", "big")
    await tab.close()


async def test_a_forged_origin_is_refused():
    tab = Tab("/ws/docs/doc/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await tab.communicator.connect(timeout=TIMEOUT)
    assert not connected
    assert not await EditingSession.objects.aexists()


async def test_an_unknown_endpoint_gets_an_error_and_close_code_4404():
    tab = Tab("/ws/docs/not a slug!/")
    connected, _ = await tab.communicator.connect(timeout=TIMEOUT)
    assert connected
    assert (await tab.receive())["code"] == "unknown-document"
    assert await tab.communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4404}


async def test_resume_sends_the_missed_operations():
    alice, _ = await open_tab()
    for n in range(3):
        await alice.send({"type": "op", "rev": n, "op": append(n, str(n)), "id": f"a:{n}"})
        await alice.receive_type("ack")
    bob, first = await open_tab(query="?rev=1")
    assert first["type"] == "resume"
    assert first["rev"] == 3
    assert [(f["rev"], f["op"], f["id"]) for f in [await bob.receive(), await bob.receive()]] == [
        (2, [1, "1"], "a:1"),
        (3, [2, "2"], "a:2"),
    ]
    await alice.close()
    await bob.close()


async def test_resume_beyond_the_kept_history_sends_a_snapshot_saying_what_became_of_the_pending_edit(
    settings,
):
    settings.EDITOR_OPLOG_RETAIN = 1
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 0
    settings.EDITOR_HISTORY_KEEP_DAYS = 0
    document = await anew_document("doc", text="x" * 100, rev=100)
    await Operation.objects.acreate(document=document, rev=100, op=[99, "x"], op_id="mine:7")
    tab, first = await open_tab(query="?rev=50&pending=mine%3A7")
    assert first["type"] == "snapshot"
    assert first["rev"] == 100
    assert first["pending"] == {"id": "mine:7", "rev": 100}
    await tab.close()
    other, first = await open_tab(query="?rev=50&pending=mine%3A8")
    assert first["pending"] == {"id": "mine:8", "rev": None}
    await other.close()


async def test_fetch_fills_a_gap_or_sends_a_snapshot():
    alice, _ = await open_tab()
    for n in range(2):
        await alice.send({"type": "op", "rev": n, "op": append(n, "z"), "id": f"a:{n}"})
        await alice.receive_type("ack")
    await alice.send({"type": "fetch", "rev": 0})
    assert [(await alice.receive_type("op"))["rev"] for _ in range(2)] == [1, 2]
    await alice.send({"type": "fetch", "rev": 99})
    snapshot = await alice.receive_type("snapshot")
    assert (snapshot["rev"], snapshot["text"]) == (2, "zz")
    await alice.close()


async def test_ping_gets_pong_with_the_head_revision():
    """A client whose last broadcast was lost learns from pong that it is behind."""
    await anew_document("doc", text="abc", rev=7)
    tab, _ = await open_tab()
    await tab.send({"type": "ping"})
    assert await tab.receive_type("pong") == {"type": "pong", "rev": 7}
    await tab.close()


@pytest.mark.parametrize(
    ("query", "first_type"),
    [
        ("?rev=%C2%B2", "snapshot"),  # a digit to str.isdigit(), not to int()
        ("?rev=" + "9" * 5000, "snapshot"),
        ("?rev=-1", "snapshot"),
        ("?pending=%00", "snapshot"),
        ("?rev=0&pending=%F0%9F%98%80", "resume"),
        ("?rev=0&pending=" + "x" * 81, "resume"),
    ],
)
async def test_malformed_resume_queries_are_ignored(query, first_type):
    tab, first = await open_tab(query=query)
    assert first["type"] == first_type
    assert "pending" not in first
    await tab.close()
    assert not await EditingSession.objects.filter(disconnected_at=None).aexists()


@pytest.mark.parametrize("op_id", [r"\u0000", r"\ud800", "has space", r"\u00e9", ""])
async def test_malformed_op_ids_are_refused(op_id):
    tab, _ = await open_tab()
    await tab.send('{"type": "op", "rev": 0, "op": ["x"], "id": "' + op_id + '"}')  # raw JSON escapes
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.close()
    assert not await EditingSession.objects.filter(disconnected_at=None).aexists()


async def test_an_operation_with_too_many_components_is_refused():
    await anew_document("doc", text="x" * 2000)
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": [1, "y"] * 1000, "id": "many"})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("invalid-op", "many")
    assert "1000 components" in error["message"]
    await tab.close()


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ([10**30], "operations span at most"),  # refused as it is read
        ([2**31 - 1], "spans 2147483647 characters but revision 0 has 0"),  # refused by the engine
        ([-(2**31 - 1)], "spans 2147483647 characters but revision 0 has 0"),
    ],
)
async def test_an_operation_spanning_more_than_the_document_is_refused_and_nothing_else_fails(op, message):
    """However large its counts: they never reach the database, whose columns could not hold them."""
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": op, "id": "huge"})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("invalid-op", "huge")
    assert message in error["message"]
    await tab.send({"type": "op", "rev": 0, "op": ["y"], "id": "a:1"})
    assert (await tab.receive_type("ack"))["rev"] == 1
    await tab.close()
    assert await aread_document("doc") == (1, "y")


@pytest.mark.logs_errors(
    "a batch of 1 edits failed", "edit poison to doc failed", "failed to handle a OpRequest frame"
)
async def test_an_edit_that_cannot_be_stored_is_reported_with_its_id_and_the_connection_survives(
    poison_edits,
):
    """The client then resumes on a new connection, which tells it what became of the edit."""
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": ["x"], "id": poison_edits})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("internal-error", poison_edits)
    await tab.send({"type": "op", "rev": 0, "op": ["y"], "id": "a:1"})
    assert (await tab.receive_type("ack"))["rev"] == 1
    await tab.close()
    assert not await EditingSession.objects.filter(disconnected_at=None).aexists()
    assert await aread_document("doc") == (1, "y")


async def test_people_joining_and_leaving_are_announced_counted_and_recorded(caplog):
    caplog.set_level(logging.INFO, logger="editor")
    alice, first = await open_tab()
    assert first["people"] == 1
    bob, bob_first = await open_tab()
    assert bob_first["people"] == 2
    while (await alice.receive_type("person"))["session"] != bob_first["session"]:
        pass  # her own arrival may come first
    await bob.close()
    assert await alice.receive_type("leave") == {"type": "leave", "session": bob_first["session"]}
    sessions = [s async for s in EditingSession.objects.order_by("connected_at")]
    assert [s.disconnected_at is None for s in sessions] == [True, False]
    assert sessions[0].session_id == first["session"]
    assert sessions[0].worker
    assert sessions[0].client_address == "127.0.0.1:50000"
    lines = [r.getMessage() for r in caplog.records if r.name == "editor.consumers"]
    assert lines[0].startswith(f"connect doc=doc session={first['session']} client=")
    assert "worker=" in lines[0]
    assert lines[0].endswith("people=1")
    assert [line.split()[0] for line in lines] == ["connect", "connect", "disconnect"]
    assert lines[2].endswith("people=1")
    await alice.close()


async def alice_hello_bob_world() -> tuple[tuple[Tab, str], tuple[Tab, str]]:
    """Alice types "hello", Bob " world" after it: each tab with its author key."""
    alice, welcome_alice = await open_tab(query="?name=Alice")
    bob, welcome_bob = await open_tab(query="?name=Bob")
    await alice.send({"type": "op", "rev": 0, "op": ["hello"], "id": "a:1"})
    await alice.receive_type("ack")
    await bob.send({"type": "op", "rev": 1, "op": [5, " world"], "id": "b:1"})
    await bob.receive_type("ack")
    return (alice, f"session:{welcome_alice['session']}"), (bob, f"session:{welcome_bob['session']}")


async def test_history_answers_an_old_revision_with_its_authors_and_the_named_versions():
    """The timeslider's frame: the text at R, runs of who wrote it, the versions."""
    (alice, alice_key), (bob, bob_key) = await alice_hello_bob_world()
    await alice.send({"type": "op", "rev": 2, "op": [-5, 6], "id": "a:2"})  # deletes "hello"
    await alice.receive_type("ack")
    document = await Document.objects.aget(slug="doc")
    await Version.objects.acreate(document=document, rev=2, name="Both", created_by_name="Alice")

    await bob.send({"type": "history", "rev": 2})
    answer = await bob.receive_type("history")
    assert answer["rev"] == 2
    assert answer["text"] == "hello world"
    assert answer["authorship"] == [[5, alice_key], [6, bob_key]]
    assert answer["authors"][alice_key]["name"] == "Alice"
    assert answer["authors"][bob_key]["name"] == "Bob"
    assert [(v["rev"], v["name"], v["by"]) for v in answer["versions"]] == [(2, "Both", "Alice")]
    await bob.send({"type": "history", "rev": 3})
    head = await bob.receive_type("history")
    assert (head["text"], head["authorship"]) == (" world", [[6, bob_key]])
    await alice.close()
    await bob.close()


async def test_history_refuses_revisions_it_does_not_have_with_where_it_starts_and_ends():
    await anew_document("doc", text="abc", rev=7)  # made with text: its history starts there
    tab, _ = await open_tab()
    await tab.send({"type": "history", "rev": 8})
    future = await tab.receive_type("error")
    assert (future["code"], future["head"]) == ("future-revision", 7)
    await tab.send({"type": "history", "rev": 6})
    forgotten = await tab.receive_type("error")
    assert (forgotten["code"], forgotten["start"]) == ("history-forgotten", 7)
    await tab.send({"type": "history", "rev": 7})
    assert (await tab.receive_type("history"))["authorship"] == [[3, None]]
    await tab.send({"type": "history", "rev": -1})
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.close()
    assert (await aread_document("doc"))[1] == "abc", "reading history changes nothing"


async def test_save_version_names_a_revision_for_editors_only():
    from editor.access.rules import Visibility

    tab, _ = await open_tab(query="?name=Ann")
    await tab.send({"type": "op", "rev": 0, "op": ["draft"], "id": "a:1"})
    await tab.receive_type("ack")
    name = "x" * 80
    await tab.send({"type": "save-version", "rev": 1, "name": f"  {name} "})
    answer = await tab.receive_type("history")
    assert [(v["rev"], v["name"], v["by"]) for v in answer["versions"]] == [(1, name, "Ann")]
    for refused in (name + "x", "bell\x07", " \t "):  # one past the limit, a control character, blank
        await tab.send({"type": "save-version", "rev": 1, "name": refused})
        assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    await tab.send({"type": "save-version", "rev": 2, "name": "later"})
    assert (await tab.receive_type("error"))["code"] == "future-revision"
    await tab.close()

    await Document.objects.filter(slug="doc").aupdate(visibility=Visibility.VIEW_ONLY.value)
    viewer, _ = await open_tab()
    await viewer.send({"type": "save-version", "rev": 1, "name": "mine"})
    assert (await viewer.receive_type("error"))["code"] == "read-only"
    await viewer.send({"type": "history", "rev": 1})
    assert (await viewer.receive_type("history"))["text"] == "draft", "a viewer reads the history"
    await viewer.close()
    assert await Version.objects.filter(document__slug="doc").acount() == 1


async def test_revert_answers_the_edit_that_takes_one_authors_edits_back_for_editors_only():
    """The page's revert: the edit on the head, not committed; the others' text stays."""
    from editor.access.rules import Visibility

    (alice, alice_key), (bob, bob_key) = await alice_hello_bob_world()
    await alice.send({"type": "op", "rev": 2, "op": [11, "!"], "id": "a:2"})
    await alice.receive_type("ack")

    await bob.send({"type": "revert", "authors": [alice_key, alice_key]})
    answer = await bob.receive_type("revert")
    assert answer == {"type": "revert", "rev": 3, "op": [-5, 6, -1], "authors": [alice_key]}
    await bob.send({"type": "revert", "authors": [bob_key], "until": "2000-01-01T00:00:00Z"})
    assert (await bob.receive_type("revert"))["op"] == [12], "nothing of Bob's before 2000"
    await bob.send({"type": "revert", "authors": ["session:nobody"]})
    assert (await bob.receive_type("revert"))["op"] == [12]
    most = [f"session:s{i}" for i in range(20)]
    await bob.send({"type": "revert", "authors": most})  # exactly the limit
    assert (await bob.receive_type("revert"))["op"] == [12]
    for refused in (
        {"authors": [*most, "session:s20"]},  # one past the limit
        {"authors": []},
        {"authors": ["alice"]},
        {"authors": [alice_key], "since": "yesterday"},
        {"authors": [alice_key], "since": "2026-12-03T10:00:00"},  # no offset
        {"authors": [alice_key], "since": 1764756000},
        {"authors": [alice_key], "since": "2026-12-03T10:00:00Z", "until": "2026-12-03T09:00:00Z"},
    ):
        await bob.send({"type": "revert", **refused})
        assert (await bob.receive_type("error"))["code"] == "invalid-frame", refused
    await alice.close()
    await bob.close()
    assert (await aread_document("doc"))[1] == "hello world!", "asking commits nothing"

    await Document.objects.filter(slug="doc").aupdate(visibility=Visibility.VIEW_ONLY.value)
    viewer, _ = await open_tab()
    await viewer.send({"type": "revert", "authors": [alice_key]})
    assert (await viewer.receive_type("error"))["code"] == "read-only"
    await viewer.close()


async def test_diff_answers_what_changed_between_two_revisions_and_who_changed_it():
    (alice, alice_key), (bob, bob_key) = await alice_hello_bob_world()
    await bob.send({"type": "op", "rev": 2, "op": [-5, 6], "id": "b:2"})  # Bob deletes "hello"
    await bob.receive_type("ack")

    await alice.send({"type": "diff", "from": 1, "to": 3})
    answer = await alice.receive_type("diff")
    assert answer["changes"] == [
        {"kind": "delete", "text": "hello", "author": bob_key},
        {"kind": "insert", "text": " world", "author": bob_key},
    ]
    assert (answer["from"], answer["to"], answer["authors"][bob_key]["name"]) == (1, 3, "Bob")
    await alice.send({"type": "diff", "from": 0, "to": 0})
    assert (await alice.receive_type("diff"))["changes"] == []
    await alice.send({"type": "diff", "from": 0, "to": 1})
    assert (await alice.receive_type("diff"))["changes"] == [
        {"kind": "insert", "text": "hello", "author": alice_key}
    ]
    await alice.send({"type": "diff", "from": 1, "to": 4})
    assert (await alice.receive_type("error"))["code"] == "future-revision"
    for refused in ({"from": 2, "to": 1}, {"from": "1", "to": 2}, {"to": 2}, {"from": -1, "to": 2}):
        await alice.send({"type": "diff", **refused})
        assert (await alice.receive_type("error"))["code"] == "invalid-frame", refused
    await alice.close()
    await bob.close()


async def test_save_version_keeps_at_most_the_limit_of_named_versions(settings):
    settings.EDITOR_MAX_VERSIONS = 2
    tab, _ = await open_tab()
    for name in ("one", "two"):  # up to exactly the limit
        await tab.send({"type": "save-version", "rev": 0, "name": name})
        await tab.receive_type("history")
    await tab.send({"type": "save-version", "rev": 0, "name": "three"})  # one past it
    refused = await tab.receive_type("error")
    assert refused["code"] == "too-many-versions"
    assert "at most 2" in refused["message"]
    await tab.close()
    names = [name async for name in Version.objects.order_by("pk").values_list("name", flat=True)]
    assert names == ["one", "two"]
