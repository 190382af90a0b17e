"""Group commit: edits waiting together share a transaction, and one failure costs only itself.

Every test runs on both of the committer's ways to the database: the
asynchronous PostgreSQL connection and Django's connection in a thread.
"""

import asyncio
import json
import logging
import random
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from editor import ot, services
from editor.live import committer as committer_module
from editor.live import hub as hub_module
from editor.live.committer import committer
from editor.live.sockets import Frame
from editor.models import Document, Operation
from editor.ot import server as engine
from editor.ot.server import Accepted, Edit, EditRejected
from editor.store import runners
from editor.store.batch import EditBatch
from editor.store.storage import COMPACT_EVERY
from editor.wire import protocol
from tests import servers
from tests.documents import anew_document, aread_document
from tests.tabs import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

RUNNERS = {"postgres": runners.PostgresRunner, "django": runners.DjangoRunner}


@pytest.fixture(params=list(RUNNERS), autouse=True)
def runner_class(request, monkeypatch):
    monkeypatch.setattr(committer_module, "new_runner", RUNNERS[request.param])
    return RUNNERS[request.param]


def edit(slug: str, op, op_id: str, base_rev: int = 0) -> Edit:
    return Edit(slug=slug, base_rev=base_rev, op=op, op_id=op_id, session_id="s1")


class Transactions:
    """The runner's batches as the committer sends them: each one's number of edits, and a
    way to hold them back until the test lets them go."""

    def __init__(self, monkeypatch, runner_class) -> None:
        self.sizes: list[int] = []
        self._started = asyncio.Event()
        self._go = asyncio.Event()
        self._go.set()
        apply = runner_class.apply

        async def counted(runner, edits):
            self.sizes.append(len(edits))
            self._started.set()
            await asyncio.wait_for(self._go.wait(), TIMEOUT)
            return await apply(runner, edits)

        monkeypatch.setattr(runner_class, "apply", counted)

    def hold(self) -> None:
        self._go.clear()

    async def started(self) -> None:
        """Once the first batch is on its way."""
        await asyncio.wait_for(self._started.wait(), TIMEOUT)

    async def let_go(self) -> None:
        self._go.set()


@pytest.fixture
def transactions(monkeypatch, runner_class) -> Transactions:
    return Transactions(monkeypatch, runner_class)


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """The ids of the edits the committer hands to the hub, in order (instead of broadcasting them)."""
    ids = []

    async def publish_ops(slug, ops):
        ids.extend(json.loads(frame)["id"] for frame, _ in ops)

    monkeypatch.setattr(committer_module.hub, "publish_ops", publish_ops)
    return ids


async def test_edits_waiting_together_for_many_documents_share_one_transaction(transactions):
    for slug in ("a", "b", "c"):
        await anew_document(slug)
    edits = [
        edit(slug, [n, "x"] if n else ["x"], f"{slug}{n}", base_rev=n) for n in range(5) for slug in "abc"
    ]
    results = await asyncio.gather(*(committer.submit(e) for e in edits))
    assert transactions.sizes == [15]
    assert [r.operation.rev for r in results] == [n + 1 for n in range(5) for _ in "abc"]
    for slug in "abc":
        assert await aread_document(slug) == (5, "xxxxx")
    assert await Operation.objects.acount() == 15


async def test_a_transaction_takes_at_most_max_batch_edits(transactions):
    await anew_document("doc")
    count = committer_module.MAX_BATCH + 5
    results = await asyncio.gather(*(committer.submit(edit("doc", ["x"], f"x{n}")) for n in range(count)))
    assert transactions.sizes == [committer_module.MAX_BATCH, 5]
    assert sorted(r.operation.rev for r in results) == list(range(1, count + 1))
    assert await aread_document("doc") == (count, "x" * count)


async def test_edits_arriving_during_a_commit_go_together_in_the_next(transactions):
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


async def test_a_refused_edit_costs_the_others_in_its_transaction_nothing(transactions):
    await anew_document("doc", text="ab")
    edits = [edit("doc", [2, "c"], "good"), edit("doc", [5, "c"], "too-long"), edit("gone", ["x"], "nowhere")]
    good, too_long, nowhere = await asyncio.gather(
        *(committer.submit(e) for e in edits), return_exceptions=True
    )
    assert transactions.sizes == [3]
    assert good.operation.rev == 1
    assert (too_long.code, nowhere.code) == ("invalid-op", "unknown-document")
    assert await aread_document("doc") == (1, "abc")


async def test_a_reused_id_is_refused_and_costs_its_batch_nothing(transactions):
    await anew_document("doc")
    await committer.submit(edit("doc", ["a"], "a1"))
    reused, good = await asyncio.gather(
        committer.submit(edit("doc", [1, "b"], "a1", base_rev=1)),
        committer.submit(edit("doc", [1, "c"], "c1", base_rev=1)),
        return_exceptions=True,
    )
    assert transactions.sizes == [1, 2]
    assert reused.code == "duplicate-id"
    assert good.operation.rev == 2
    assert await aread_document("doc") == (2, "ac")


async def test_edits_committed_by_a_batch_that_then_failed_are_still_broadcast(
    monkeypatch, published, runner_class
):
    """As when the connection drops after COMMIT: the retry finds them stored, and sends them on."""
    await anew_document("doc")
    apply = runner_class.apply

    async def failing_after_commit(runner, edits):
        results = await apply(runner, edits)
        if len(edits) > 1:
            raise ConnectionError("connection lost after COMMIT")
        return results

    monkeypatch.setattr(runner_class, "apply", failing_after_commit)
    results = await asyncio.gather(
        *(committer.submit(edit("doc", ["x"], op_id)) for op_id in ("a1", "b1", "c1"))
    )
    assert [r.operation.rev for r in results] == [1, 2, 3]
    assert published == ["a1", "b1", "c1"]


async def test_a_failing_edit_is_retried_alone_and_fails_alone(poison_edits, caplog):
    await anew_document("doc")
    results = await asyncio.gather(
        committer.submit(edit("doc", ["a"], "before")),
        committer.submit(edit("doc", ["b"], poison_edits)),
        committer.submit(edit("doc", ["c"], "after")),
        return_exceptions=True,
    )
    assert [type(result) for result in results] == [Accepted, RuntimeError, Accepted]
    assert "retrying them one by one" in caplog.text
    assert "edit poison to doc failed" in caplog.text
    assert await aread_document("doc") == (2, "ca")


async def test_an_edit_survives_its_connection_to_the_database_being_cut(caplog):
    """As after a PostgreSQL restart: the broken connection is replaced and the edit retried."""
    caplog.set_level(logging.WARNING, logger="editor.committer")
    await anew_document("doc")
    assert (await committer.submit(edit("doc", ["a"], "a1"))).operation.rev == 1

    # The committer's connection, at least.
    assert await sync_to_async(_other_sessions)("count(pg_terminate_backend(pid))") >= 1
    accepted = await committer.submit(edit("doc", [1, "b"], "a2", base_rev=1))
    assert accepted.operation.rev == 2
    assert await aread_document("doc") == (2, "ab")
    assert "retrying them one by one" in caplog.text


async def test_an_edit_is_broadcast_even_when_its_author_stopped_waiting(transactions, published):
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


async def test_a_failed_broadcast_still_acknowledges_the_committed_edit(monkeypatch, caplog):
    """Clients that missed it find the gap in the revisions and fetch it."""
    await anew_document("doc")

    async def publish_ops(slug, ops):
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(committer_module.hub, "publish_ops", publish_ops)
    accepted = await committer.submit(edit("doc", ["a"], "a1"))
    assert accepted.operation.rev == 1
    assert await aread_document("doc") == (1, "a")
    assert "failed to broadcast 1 committed edits" in caplog.text


class Listener:
    """A hub member that keeps what it is sent."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.frames: list[dict] = []

    async def deliver(self, frame: Frame) -> None:
        self.frames.append(json.loads(frame.text))


async def test_edits_published_together_reach_each_member_in_one_frame_without_their_own():
    alice, bob, carol = Listener("alice"), Listener("bob"), Listener("carol")
    for member in (alice, bob, carol):
        await committer_module.hub.join("doc", member)
    first = protocol.op_frame(rev=1, op=["a"], session="alice", op_id="a1")
    second = protocol.op_frame(rev=2, op=[1, "b"], session="bob", op_id="b1")
    await committer_module.hub.publish_ops("doc", [(first, "alice"), (second, "bob")])
    assert alice.frames == [json.loads(second)]
    assert bob.frames == [json.loads(first)]
    assert carol.frames == [{"type": "batch", "frames": [json.loads(first), json.loads(second)]}]


async def test_the_text_is_stored_in_the_background_after_the_due_revision():
    await anew_document("doc")
    for n in range(COMPACT_EVERY):
        await committer.submit(edit("doc", [n, "x"] if n else ["x"], f"e{n}", base_rev=n))
    await committer.stop()  # waits for the background work
    stored = await Document.objects.aget(slug="doc")
    assert (stored.text, stored.snapshot_rev, stored.length) == (
        "x" * COMPACT_EVERY,
        COMPACT_EVERY,
        COMPACT_EVERY,
    )


async def test_a_hanging_redis_does_not_hold_up_the_edits(monkeypatch, caplog, redis_channel_layer):
    await anew_document("doc")
    listener = Listener("bob")
    await committer_module.hub.join("doc", listener)

    async def hang(group, message):
        await asyncio.Event().wait()

    monkeypatch.setattr(committer_module.hub.layer, "group_send", hang)
    monkeypatch.setattr(hub_module, "GROUP_SEND_TIMEOUT", 0.05)
    accepted = await committer.submit(edit("doc", ["a"], "a1"))
    assert accepted.operation.rev == 1
    assert [frame["id"] for frame in listener.frames] == ["a1"]  # the local members had it
    assert "broadcast to doc.doc failed" in caplog.text


@pytest.fixture
def round_trips(monkeypatch) -> list[list[str]]:
    """The asynchronous PostgreSQL runner's round trips, each as the first words of its statements."""
    trips: list[list[str]] = []
    execute, prepared = runners._execute, runners._prepared

    async def counted(cursor, statements):
        trips.append([statement.sql.split()[0] for statement in statements])
        return await execute(cursor, statements)

    async def counted_prepared(database, statement):
        trips.append([statement.sql.split()[0]])
        return await prepared(database, statement)

    monkeypatch.setattr(runners, "_execute", counted)
    monkeypatch.setattr(runners, "_prepared", counted_prepared)
    return trips


ONE_STATEMENT = ["WITH"]  # the optimistic move, with the head and what came since if it did not move


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_an_edit_on_the_head_takes_one_round_trip(round_trips):
    await anew_document("doc")
    await committer.submit(edit("doc", ["a"], "a1"))
    assert round_trips == [ONE_STATEMENT]
    assert await aread_document("doc") == (1, "a")


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_an_edit_another_came_before_takes_one_more(round_trips):
    """The first attempt finds the document moved on and reads what came since; the second lands."""
    await anew_document("doc")
    await committer.submit(edit("doc", ["a"], "a1"))
    round_trips.clear()
    accepted = await committer.submit(edit("doc", ["b"], "b1"))  # made on revision 0
    assert round_trips == [ONE_STATEMENT, ONE_STATEMENT]
    assert accepted.operation.op == ["b", 1]
    assert await aread_document("doc") == (2, "ba")


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_edits_that_keep_losing_races_go_the_locking_way(round_trips, monkeypatch):
    """Another worker commits just before each optimistic attempt; the locking batch then settles it."""
    await anew_document("doc")
    prepared = runners._prepared

    @sync_to_async
    def another_worker_types() -> None:
        head = Document.objects.get(slug="doc")
        other = edit("doc", [head.length, "z"] if head.length else ["z"], f"z{head.rev}", base_rev=head.rev)
        [result] = services.documents_apply_operations(edits=[other])
        assert isinstance(result, Accepted)

    async def racing(database, statement):
        await another_worker_types()
        return await prepared(database, statement)

    monkeypatch.setattr(runners, "_prepared", racing)
    accepted = await committer.submit(edit("doc", ["a"], "a1"))
    locking = [["BEGIN", "SELECT"], ["SELECT"], ["UPDATE", "INSERT", "COMMIT"]]
    assert round_trips == [ONE_STATEMENT, ONE_STATEMENT, *locking]
    assert accepted.operation.rev == 3
    assert await aread_document("doc") == (3, "azz")


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_a_reused_id_fails_the_statement_and_the_locking_way_names_it(round_trips):
    await anew_document("doc")
    await committer.submit(edit("doc", ["a"], "a1"))
    await committer.submit(edit("doc", [1, "b"], "b1", base_rev=1))
    round_trips.clear()
    with pytest.raises(EditRejected) as rejected:
        await committer.submit(edit("doc", [2, "c"], "a1", base_rev=2))  # on the head, an old id
    assert rejected.value.code == "duplicate-id"
    assert round_trips == [ONE_STATEMENT, ["BEGIN", "SELECT"], ["SELECT"], ["COMMIT"]]
    assert await aread_document("doc") == (2, "ab")


@pytest.mark.parametrize("documents", [1, 2])
async def test_random_batches_give_what_the_engine_gives_one_edit_after_another(documents):
    """Stale revisions, resends and reused ids, in batches for one document (the optimistic way
    on PostgreSQL) or two (the locking way): every result and every text is what the engine
    gives applying the same edits in order, one at a time."""
    rng = random.Random(5)
    slugs = ("left", "right")[:documents]
    reference = {slug: engine.MemoryDocumentLog() for slug in slugs}
    texts = {slug: [""] for slug in slugs}  # each document's text at each revision
    sent: list[Edit] = []
    for slug in slugs:
        await anew_document(slug)
    for batch_number in range(40):
        batch = []
        for n in range(rng.randint(1, 6)):
            slug = rng.choice(slugs)
            if sent and rng.random() < 0.1:
                batch.append(rng.choice(sent))  # a resend
                continue
            base = rng.randint(max(0, len(texts[slug]) - 4), len(texts[slug]) - 1)
            text = texts[slug][base]
            at = rng.randint(0, len(text))
            if text and rng.random() < 0.3:
                at = min(at, len(text) - 1)
                op = ot.normalize([at, -1, len(text) - at - 1])
            else:
                op = ot.normalize([at, rng.choice("abcxyz"), len(text) - at])
            op_id = f"b{batch_number}-{n}"
            if sent and rng.random() < 0.05:
                op_id = rng.choice(sent).op_id  # an id reused on a new edit
            batch.append(edit(slug, op, op_id, base_rev=base))
        expected = []
        for e in batch:
            log = reference[e.slug]
            try:
                expected.append(
                    engine.accept(
                        log, base_rev=e.base_rev, op=e.op, op_id=e.op_id, session_id="s1", max_chars=10**6
                    )
                )
            except EditRejected as rejected:
                expected.append(rejected.code)
            texts[e.slug][log.rev :] = [log.text]
        results = await asyncio.gather(*(committer.submit(e) for e in batch), return_exceptions=True)
        assert [r.code if isinstance(r, EditRejected) else r for r in results] == expected
        sent += [e for e, r in zip(batch, results, strict=True) if isinstance(r, Accepted)]
    for slug in slugs:
        assert await aread_document(slug) == (reference[slug].rev, reference[slug].text)


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_the_optimistic_statement_is_prepared_once_per_connection():
    await anew_document("doc")
    for n in range(3):
        await committer.submit(edit("doc", [n, "x"] if n else ["x"], f"e{n}", base_rev=n))
    async with committer.runner._connection.cursor() as cursor:
        await cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = await cursor.fetchall()
    assert len(prepared) == 1
    assert prepared[0][0].lstrip().startswith("WITH moved AS")


def _other_sessions(select: str, where: str = "true") -> int:
    """``select`` over the other sessions on the test database (pg_stat_activity)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM pg_stat_activity"
            f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND {where}"
        )
        return cursor.fetchone()[0]


def _someone_waits_for_a_row_lock() -> None:
    """Polls PostgreSQL (in a thread of its own) until a session waits for a lock."""
    try:
        servers.wait_until(
            lambda: _other_sessions("count(*)", "wait_event_type = 'Lock'"),
            timeout=TIMEOUT,
            what="a session waiting for a row lock",
            interval=0.01,
        )
    finally:
        connection.close()


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_an_edit_that_waited_for_the_row_another_moved_goes_the_locking_way(round_trips):
    """Its statement's snapshot still shows the head it expected: no second attempt on it."""
    await anew_document("doc")
    holding, release = threading.Event(), threading.Event()

    def another_worker() -> None:
        try:
            with transaction.atomic():
                Document.objects.select_for_update().get(slug="doc")
                holding.set()
                assert release.wait(TIMEOUT)
                [result] = services.documents_apply_operations(edits=[edit("doc", ["z"], "z1")])
                assert isinstance(result, Accepted)
        finally:
            connection.close()

    other = threading.Thread(target=another_worker)
    other.start()
    assert await asyncio.to_thread(holding.wait, TIMEOUT)
    submitted = asyncio.ensure_future(committer.submit(edit("doc", ["a"], "a1")))
    await asyncio.to_thread(_someone_waits_for_a_row_lock)
    release.set()
    accepted = await submitted
    await asyncio.to_thread(other.join, TIMEOUT)
    assert round_trips == [ONE_STATEMENT, ["BEGIN", "SELECT"], ["SELECT"], ["UPDATE", "INSERT", "COMMIT"]]
    assert accepted.operation.op == ["a", 1]
    assert await aread_document("doc") == (2, "az")


@pytest.mark.parametrize("runner_class", ["postgres"], indirect=True)
async def test_on_postgresql_a_failure_inside_the_locking_transaction_closes_its_connection(monkeypatch):
    """The transaction is left open by the failure; closing the connection ends it, and the
    edits, retried one by one on a new connection, all land."""
    for slug in "ab":
        await anew_document(slug)
    opened = []
    connected = runners.PostgresRunner._connected

    async def recorded(runner):
        database = await connected(runner)
        if database not in opened:
            opened.append(database)
        return database

    accept = EditBatch.accept

    def failing_once(batch, *, now):
        monkeypatch.setattr(EditBatch, "accept", accept)
        raise RuntimeError("database on fire")

    monkeypatch.setattr(runners.PostgresRunner, "_connected", recorded)
    monkeypatch.setattr(EditBatch, "accept", failing_once)
    results = await asyncio.gather(
        committer.submit(edit("a", ["x"], "a1")), committer.submit(edit("b", ["y"], "b1"))
    )
    assert [r.operation.rev for r in results] == [1, 1]
    assert len(opened) == 2
    assert opened[0].closed
    assert (await aread_document("a"), await aread_document("b")) == ((1, "x"), (1, "y"))
