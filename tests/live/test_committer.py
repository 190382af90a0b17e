"""Group commit (live/committer.py): edits waiting together share a transaction, then are broadcast.

The committer here is the worker's own (live/worker.py), on each of its two
drivers; what a commit decides is tests/store/test_commit.py's.
"""

import asyncio
import json
import logging

import psycopg
import pytest
from django.conf import settings as site_settings

from editor.live import committer as committer_module
from editor.live import hub as hub_module
from editor.live import worker
from editor.models import Document, Operation
from editor.ot.server import Accepted, Edit
from editor.store import commit, drivers
from editor.wire import protocol
from editor.wire.websocket import EncodedFrame
from tests.documents import anew_document, aread_document
from tests.tabs import TIMEOUT

# The stored text catches up (and milestones are kept) every this many revisions.
COMPACT_EVERY = site_settings.EDITOR_HISTORY_MILESTONE_EVERY

pytestmark = pytest.mark.django_db(transaction=True)

DRIVERS = {"postgres": drivers.PsycopgDriver, "django": drivers.ThreadDriver}


@pytest.fixture(params=list(DRIVERS), autouse=True)
def driver_class(request, monkeypatch):
    """The worker's committer takes this driver."""
    monkeypatch.setattr(committer_module, "committer_driver", DRIVERS[request.param])
    return DRIVERS[request.param]


@pytest.fixture
async def committer():
    return (await worker.current()).committer


def edit(slug: str, op, op_id: str, base_rev: int = 0) -> Edit:
    return Edit(slug=slug, base_rev=base_rev, op=op, op_id=op_id, session_id="s1")


class Transactions:
    """The committer's batches: each one's number of edits, and a way to hold them back until the
    test lets them go."""

    def __init__(self, monkeypatch) -> None:
        self.sizes: list[int] = []
        self._started = asyncio.Event()
        self._go = asyncio.Event()
        self._go.set()
        run = commit.commit

        async def counted(driver, edits):
            self.sizes.append(len(edits))
            self._started.set()
            await asyncio.wait_for(self._go.wait(), TIMEOUT)
            return await run(driver, edits)

        monkeypatch.setattr(commit, "commit", counted)

    def hold(self) -> None:
        self._go.clear()

    async def started(self) -> None:
        """Once the first batch is on its way."""
        await asyncio.wait_for(self._started.wait(), TIMEOUT)

    async def let_go(self) -> None:
        self._go.set()


@pytest.fixture
def transactions(monkeypatch) -> Transactions:
    return Transactions(monkeypatch)


@pytest.fixture
async def published(committer) -> list[str]:
    """The ids of the edits the committer hands to the hub, in order (instead of broadcasting them)."""
    ids = []

    async def publish_ops(slug, ops):
        ids.extend(json.loads(frame)["id"] for frame, _ in ops)

    committer.publish = publish_ops
    return ids


async def test_edits_waiting_together_for_many_documents_share_one_transaction(committer, transactions):
    for slug in ("a", "b", "c"):
        await anew_document(slug)
    edits = [edit(slug, [n, "x"] if n else ["x"], f"{slug}{n}", n) for n in range(5) for slug in "abc"]
    results = await asyncio.gather(*(committer.submit(e) for e in edits))
    assert transactions.sizes == [15]
    assert [r.operation.rev for r in results] == [n + 1 for n in range(5) for _ in "abc"]
    for slug in "abc":
        assert await aread_document(slug) == (5, "xxxxx")
    assert await Operation.objects.acount() == 15


@pytest.mark.parametrize("extra", [0, 1])
async def test_a_transaction_takes_at_most_max_batch_edits(committer, transactions, extra):
    """Exactly MAX_BATCH waiting go in one transaction; one more waits for the next."""
    await anew_document("doc")
    count = commit.MAX_BATCH + extra
    results = await asyncio.gather(*(committer.submit(edit("doc", ["x"], f"x{n}")) for n in range(count)))
    assert transactions.sizes == [commit.MAX_BATCH, 1][: 1 + extra]
    assert sorted(r.operation.rev for r in results) == list(range(1, count + 1))
    assert await aread_document("doc") == (count, "x" * count)


async def test_edits_arriving_during_a_commit_go_together_in_the_next(committer, transactions):
    await anew_document("doc")
    transactions.hold()
    first = asyncio.ensure_future(committer.submit(edit("doc", ["a"], "first")))
    await transactions.started()
    rest = [committer.submit(edit("doc", ["b"], f"later{n}")) for n in range(10)]
    # Let go once the ten have been submitted (gather starts its tasks in order).
    *results, _ = await asyncio.gather(first, *rest, transactions.let_go())
    assert transactions.sizes == [1, 10]
    assert sorted(r.operation.rev for r in results) == list(range(1, 12))
    rev, text = await aread_document("doc")
    assert (rev, sorted(text)) == (11, sorted("a" + "b" * 10))


async def test_refused_edits_raise_for_their_authors_and_cost_the_others_nothing(committer):
    await anew_document("doc", text="ab")
    edits = [edit("doc", [2, "c"], "good"), edit("doc", [5, "c"], "too-long"), edit("gone", ["x"], "nowhere")]
    good, too_long, nowhere = await asyncio.gather(
        *(committer.submit(e) for e in edits), return_exceptions=True
    )
    assert good.operation.rev == 1
    assert (too_long.code, nowhere.code) == ("invalid-op", "unknown-document")


@pytest.mark.logs_errors("a batch of 3 edits failed")
async def test_edits_committed_by_a_batch_that_then_failed_are_still_broadcast(
    committer, published, monkeypatch
):
    """As when the connection drops after COMMIT: the retry finds them stored, and sends them on."""
    await anew_document("doc")
    run = committer.driver.run
    failed = []

    async def failing_after_the_first_commit(steps):
        result = await run(steps)
        if not failed:
            failed.append(True)
            raise ConnectionError("connection lost after COMMIT")
        return result

    monkeypatch.setattr(committer.driver, "run", failing_after_the_first_commit)
    results = await asyncio.gather(
        *(committer.submit(edit("doc", ["x"], op_id)) for op_id in ("a1", "b1", "c1"))
    )
    assert [r.operation.rev for r in results] == [1, 2, 3]
    assert published == ["a1", "b1", "c1"]


@pytest.mark.logs_errors("a batch of 1 edits failed", "edit poison to doc failed")
async def test_an_edit_that_cannot_be_committed_raises_for_its_author(committer, poison_edits):
    await anew_document("doc")
    with pytest.raises(RuntimeError, match="database on fire"):
        await committer.submit(edit("doc", ["a"], poison_edits))
    assert (await committer.submit(edit("doc", ["b"], "after"))).operation.rev == 1


async def test_an_edit_is_broadcast_even_when_its_author_stopped_waiting(committer, transactions, published):
    await anew_document("doc")
    transactions.hold()
    waiting = asyncio.ensure_future(committer.submit(edit("doc", ["a"], "a1")))
    await transactions.started()
    waiting.cancel()  # the author's connection closed while its edit was being committed
    await transactions.let_go()
    second = await committer.submit(edit("doc", [1, "b"], "a2", base_rev=1))
    assert second.operation.rev == 2
    assert published == ["a1", "a2"]
    with pytest.raises(asyncio.CancelledError):
        await waiting


@pytest.mark.logs_errors("failed to broadcast 1 committed edits")
async def test_a_failed_broadcast_still_acknowledges_the_committed_edit(committer):
    """Clients that missed it find the gap in the revisions and fetch it."""
    await anew_document("doc")

    async def publish_ops(slug, ops):
        raise ConnectionError("redis is gone")

    committer.publish = publish_ops
    accepted = await committer.submit(edit("doc", ["a"], "a1"))
    assert accepted.operation.rev == 1
    assert await aread_document("doc") == (1, "a")


class Listener:
    """A hub member that keeps what it is sent."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.frames: list[dict] = []

    present = False  # not a person: never listed to others

    async def deliver(self, frame: EncodedFrame) -> None:
        self.frames.append(json.loads(frame.text))

    def relay_changed(self, carried: bool) -> None:
        self.frames.append({"type": "relay", "ok": carried})


async def test_committed_edits_reach_the_documents_members_through_the_hub(committer):
    await anew_document("doc")
    hub = (await worker.current()).hub
    listener = Listener("bob")
    await hub.join("doc", listener)
    await committer.submit(edit("doc", ["a"], "a1"))
    assert listener.frames == [{"type": "op", "rev": 1, "op": ["a"], "session": "s1", "id": "a1"}]


async def test_edits_published_together_reach_each_member_in_one_frame_without_their_own():
    hub = (await worker.current()).hub
    alice, bob, carol = Listener("alice"), Listener("bob"), Listener("carol")
    for member in (alice, bob, carol):
        await hub.join("doc", member)
    first = protocol.op_frame(rev=1, op=["a"], session="alice", op_id="a1")
    second = protocol.op_frame(rev=2, op=[1, "b"], session="bob", op_id="b1")
    await hub.publish_ops("doc", [(first, "alice"), (second, "bob")])
    assert alice.frames == [json.loads(second)]
    assert bob.frames == [json.loads(first)]
    assert carol.frames == [{"type": "batch", "frames": [json.loads(first), json.loads(second)]}]


async def test_the_text_is_stored_in_the_background_after_the_due_revision(committer):
    await anew_document("doc")
    for n in range(COMPACT_EVERY):
        await committer.submit(edit("doc", [n, "x"] if n else ["x"], f"e{n}", base_rev=n))
    await worker.stop()  # waits for the background work
    stored = await Document.objects.aget(slug="doc")
    assert (stored.text, stored.snapshot_rev, stored.length) == (
        "x" * COMPACT_EVERY,
        COMPACT_EVERY,
        COMPACT_EVERY,
    )


@pytest.mark.parametrize(
    ("failure", "level"),
    [
        (psycopg.OperationalError("connection lost"), "WARNING"),  # the database away: an outage
        (RuntimeError("database on fire"), "ERROR"),  # anything else: a defect, with its traceback
    ],
    ids=["database away", "defect"],
)
async def test_storing_the_text_while_the_database_is_away_is_a_warning_not_an_error(
    committer, monkeypatch, caplog, logged_errors, failure, level
):
    """The text is stored again at the next due revision; an outage is expected, not a defect."""

    def failing(*, slug):
        raise failure

    monkeypatch.setattr(committer_module.documents, "store_text", failing)
    await anew_document("away")
    caplog.set_level(logging.WARNING, logger="editor.live.committer")
    for n in range(COMPACT_EVERY):
        await committer.submit(edit("away", [n, "x"] if n else ["x"], f"e{n}", base_rev=n))
    await worker.stop()  # waits for the background work
    records = [r for r in caplog.records if "store the text of away" in r.getMessage()]
    assert [r.levelname for r in records] == [level]
    assert (records[0].exc_info is not None) == (level == "ERROR")
    # The defect's ERROR is this test's to expect; anything else logged still fails it.
    logged_errors.messages[:] = [m for m in logged_errors.messages if "store the text of away" not in m]
    assert (await aread_document("away"))[1] == "x" * COMPACT_EVERY, "the edits themselves committed"


async def test_a_hanging_redis_does_not_hold_up_the_edits(monkeypatch, redis_channel_layer, caplog):
    await anew_document("doc")
    live = await worker.current()
    listener = Listener("bob")
    await live.hub.join("doc", listener)

    async def hang(group, message):
        await asyncio.Event().wait()

    monkeypatch.setattr(live.hub.layer, "group_send", hang)
    monkeypatch.setattr(hub_module, "GROUP_SEND_TIMEOUT", 0.05)
    accepted = await live.committer.submit(edit("doc", ["a"], "a1"))
    assert accepted.operation.rev == 1
    assert [frame["id"] for frame in listener.frames] == ["a1"]  # the local members had it
    assert "broadcast to doc.doc failed: timed out" in caplog.text  # a warning: an outage, no traceback


async def test_a_stopped_worker_has_committed_and_broadcast_what_was_submitted(committer, transactions):
    """Stopping waits for the edits in hand: none is left uncommitted or unacknowledged."""
    await anew_document("doc")
    transactions.hold()
    submitted = [asyncio.ensure_future(committer.submit(edit("doc", ["x"], f"x{n}"))) for n in range(3)]
    await transactions.started()
    stopping = asyncio.ensure_future(worker.stop())
    await transactions.let_go()
    await stopping
    assert all(isinstance(s.result(), Accepted) for s in submitted)
    assert await aread_document("doc") == (3, "xxx")
