"""The protocol client's state machine, step by step (its JS twin has the same tests in tests/js)."""

import pytest

from editor.ot.client import ProtocolClient


def snapshot(rev: int, text: str, **extra) -> dict:
    return {"type": "snapshot", "rev": rev, "text": text, "session": "s", "people": 1, **extra}


def remote(rev: int, op: list, op_id: str = "other:1") -> dict:
    return {"type": "op", "rev": rev, "op": op, "id": op_id, "session": "t"}


@pytest.fixture
def client() -> ProtocolClient:
    tab = ProtocolClient(id_prefix="me")
    tab.receive(snapshot(3, "abc"))
    return tab


def test_states_from_synchronised_through_buffer_and_back(client):
    assert client.state == "synchronised"
    assert client.local_edit([3, "d"]) == [{"type": "op", "rev": 3, "op": [3, "d"], "id": "me:1"}]
    assert client.state == "awaiting-ack"
    assert client.local_edit([4, "e"]) == []  # one operation in flight at most
    assert client.local_edit([5, "f"]) == []
    assert client.state == "awaiting-ack-with-buffer"
    assert client.buffer == [4, "ef"]
    sends = client.receive({"type": "ack", "rev": 4, "id": "me:1"})
    assert sends == [{"type": "op", "rev": 4, "op": [4, "ef"], "id": "me:2"}]
    client.receive({"type": "ack", "rev": 5, "id": "me:2"})
    assert client.state == "synchronised"
    assert (client.rev, client.text, client.server_text) == (5, "abcdef", "abcdef")


def test_remote_operation_is_transformed_over_pending_edits(client):
    client.local_edit([3, "X"])
    client.local_edit([4, "Y"])
    client.receive(remote(4, ["1", 3]))
    assert client.text == "1abcXY"
    assert client.outstanding.op == [4, "X"]
    assert client.buffer == [5, "Y"]
    client.receive({"type": "ack", "rev": 5, "id": "me:1"})
    assert client.server_text == "1abcX"


def test_an_early_revision_waits_for_the_missing_one(client):
    client.receive(remote(5, [4, "!"], "other:2"))
    assert (client.rev, client.text, client.has_gap) == (3, "abc", True)
    assert client.fetch_frame() == {"type": "fetch", "rev": 3}
    client.receive(remote(4, [3, "?"]))
    assert (client.rev, client.text, client.has_gap) == (5, "abc?!", False)


def test_an_ack_that_overtakes_a_remote_operation_waits_for_it(client):
    client.local_edit([3, "X"])
    client.receive({"type": "ack", "rev": 5, "id": "me:1"})
    assert client.state == "awaiting-ack"
    client.receive(remote(4, ["1", 3]))
    assert (client.state, client.rev, client.text) == ("synchronised", 5, "1abcX")


def test_frames_already_applied_are_ignored(client):
    client.receive(remote(4, [3, "?"]))
    client.receive(remote(4, [4, "?"]))
    client.receive(remote(2, [1, "?"]))
    assert (client.rev, client.text) == (4, "abc?")


def test_own_operation_replayed_after_a_reconnect_counts_as_its_ack(client):
    client.local_edit([3, "X"])
    client.disconnected()
    assert client.resume_query() == "?rev=3&pending=me%3A1"
    assert client.receive({"type": "resume", "rev": 4, "session": "s2"}) == [
        {"type": "op", "rev": 3, "op": [3, "X"], "id": "me:1"}
    ]
    client.receive(remote(4, [3, "X"], "me:1"))
    assert (client.state, client.rev, client.text) == ("synchronised", 4, "abcX")
    client.receive({"type": "ack", "rev": 4, "id": "me:1"})  # the server's answer to the resend
    assert (client.state, client.rev, client.text) == ("synchronised", 4, "abcX")


def test_offline_typing_is_rebased_on_a_snapshot_when_history_is_gone(client):
    client.disconnected()
    client.local_edit([3, " typed offline"])
    sends = client.receive(snapshot(90, "xabc", pending={"id": "me:1", "rev": None}))
    assert client.text == "xabc typed offline"
    assert sends == [{"type": "op", "rev": 90, "op": [4, " typed offline"], "id": "me:2"}]


def test_a_pending_edit_the_snapshot_says_was_applied_is_not_sent_again(client):
    client.local_edit([3, "X"])
    client.local_edit([4, "Y"])
    client.disconnected()
    sends = client.receive(snapshot(90, "zabcX", pending={"id": "me:1", "rev": 50}))
    assert client.text == "zabcXY"
    assert sends == [{"type": "op", "rev": 90, "op": [5, "Y"], "id": "me:2"}]


def test_a_snapshot_while_an_edit_is_in_flight_asks_for_a_reconnect(client):
    client.local_edit([3, "X"])
    assert client.receive(snapshot(90, "other")) == []
    assert client.needs_reconnect
    assert (client.rev, client.text) == (3, "abcX")


def test_a_snapshot_when_synchronised_replaces_the_text(client):
    client.receive(snapshot(90, "new text"))
    assert (client.rev, client.text, client.state) == (90, "new text", "synchronised")


@pytest.mark.parametrize("code", ["stale-revision", "internal-error"])
def test_an_error_about_our_edit_that_needs_a_resume_asks_for_a_reconnect_and_keeps_the_edit(client, code):
    client.local_edit([3, "X"])
    client.receive({"type": "error", "code": code, "message": "", "id": "me:1"})
    assert client.needs_reconnect
    assert client.text == "abcX"


def test_a_rejected_edit_is_taken_back(client):
    client.local_edit([3, "X"])
    client.receive({"type": "error", "code": "document-too-large", "message": "", "id": "me:1"})
    assert (client.state, client.text) == ("synchronised", "abc")


def test_what_was_typed_after_a_rejected_edit_is_kept_and_sent(client):
    client.local_edit([1, -1, 1])  # delete "b": refused below
    client.local_edit([1, "Y", 1])  # typed after it, where "b" was
    sends = client.receive({"type": "error", "code": "invalid-op", "message": "", "id": "me:1"})
    assert client.text == "aYbc"
    assert sends == [{"type": "op", "rev": 3, "op": [1, "Y", 2], "id": "me:2"}]


def test_an_edit_dropped_as_rate_limited_is_sent_again_by_retry_rebased_and_kept(client):
    client.local_edit([3, "X"])
    rate_limited = {"type": "error", "code": "rate-limited", "message": "", "retry_after": 250, "id": "me:1"}
    assert client.receive(rate_limited) == []
    assert client.retry_after == 250
    client.receive(remote(4, ["1", 3]))
    client.local_edit([5, "Y"])
    assert client.retry() == [{"type": "op", "rev": 4, "op": [4, "X"], "id": "me:1"}]
    assert client.text == "1abcXY"
    assert client.retry() == [], "once"
    sends = client.receive({"type": "ack", "rev": 5, "id": "me:1"})
    assert sends == [{"type": "op", "rev": 5, "op": [5, "Y"], "id": "me:2"}]


def test_a_retry_after_the_edit_was_acknowledged_sends_nothing(client):
    client.local_edit([3, "X"])
    client.receive({"type": "error", "code": "rate-limited", "message": "", "retry_after": 5, "id": "me:1"})
    client.disconnected()
    client.receive({"type": "resume", "rev": 3, "session": "s2"})
    client.receive({"type": "ack", "rev": 4, "id": "me:1"})
    assert client.retry() == []


def test_pong_ahead_of_us_reveals_a_lost_last_broadcast(client):
    assert not client.has_gap
    client.receive({"type": "pong", "rev": 3})
    assert not client.has_gap
    client.receive({"type": "pong", "rev": 4})
    assert client.has_gap
    client.receive(remote(4, [3, "!"]))
    assert not client.has_gap


def test_default_ids_are_random():
    tab = ProtocolClient()
    tab.receive(snapshot(0, ""))
    first = tab.local_edit(["a"])[0]["id"]
    tab.receive({"type": "ack", "rev": 1, "id": first})
    second = tab.local_edit([1, "b"])[0]["id"]
    assert len(first) == len(second) == 32
    assert first != second
    assert not first.endswith(":1")


def test_an_ack_for_something_not_pending_is_a_protocol_error(client):
    with pytest.raises(ValueError, match="not pending"):
        client.receive({"type": "ack", "rev": 4, "id": "nobody"})


def test_unknown_frame_types_are_ignored(client):
    assert client.receive({"type": "cursor", "anything": 1}) == []


def test_an_ack_held_behind_a_gap_vouches_for_the_edit_when_a_snapshot_answers_the_fetch(client):
    """The history may be gone by then: the ack, not the server's memory, says it was applied."""
    client.local_edit([3, "X"])
    client.receive({"type": "ack", "rev": 5, "id": "me:1"})  # revision 4 was lost
    client.local_edit([4, "Y"])
    sends = client.receive(snapshot(6, "abcX12"))  # the fetch's answer: 4, ours at 5, then 6
    assert not client.needs_reconnect
    assert sends == [{"type": "op", "rev": 6, "op": [4, "Y", 2], "id": "me:2"}]
    assert (client.rev, client.server_text, client.text) == (6, "abcX12", "abcXY12")
    assert client.acknowledged == ["me:1"]


def test_an_ack_held_behind_a_gap_vouches_for_the_edit_after_a_reconnect(client):
    client.local_edit([3, "X"])
    client.receive({"type": "ack", "rev": 5, "id": "me:1"})
    client.disconnected()
    # Resumed too late: the server no longer knows the edit by its id.
    sends = client.receive(snapshot(6, "1abcX2", pending={"id": "me:1", "rev": None}))
    assert sends == []
    assert (client.rev, client.text, client.state) == (6, "1abcX2", "synchronised")


def test_a_snapshot_answering_a_fetch_while_an_unacknowledged_edit_is_out_asks_to_reconnect(client):
    client.local_edit([3, "X"])
    client.receive(remote(5, [4, "!"], "other:2"))
    assert client.receive(snapshot(6, "abc?!")) == []
    assert client.needs_reconnect
