"""The one commit algorithm (store/commit.py): decisions, round trips, failures, on both drivers.

Every test that does not count PostgreSQL's round trips runs on both of the
committer's drivers: psycopg's asynchronous connection and Django's
connection in a thread; and, on Django's, on SQLite too (test_on_sqlite.py).
"""

import asyncio
import random
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from editor import ot
from editor.models import Document
from editor.ot import server
from editor.ot.server import Accepted, Edit, EditRejected
from editor.store import commit, drivers, sql
from tests import servers
from tests.documents import anew_document, aread_document
from tests.tabs import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

DRIVERS = {"postgres": drivers.PsycopgDriver, "django": drivers.ThreadDriver}
if connection.vendor != "postgresql":
    del DRIVERS["postgres"]


@pytest.fixture(params=list(DRIVERS))
async def driver(request):
    driver = DRIVERS[request.param]()
    yield driver
    await driver.close()


def edit(slug: str, op, op_id: str, base_rev: int = 0) -> Edit:
    return Edit(slug=slug, base_rev=base_rev, op=op, op_id=op_id, session_id="s1")


def codes(decisions) -> list:
    return [d.code if isinstance(d, EditRejected) else d for d in decisions]


async def test_edits_for_many_documents_commit_together(driver):
    for slug in ("a", "b", "c"):
        await anew_document(slug)
    edits = [
        edit(slug, [n, "x"] if n else ["x"], f"{slug}{n}", base_rev=n) for n in range(5) for slug in "abc"
    ]
    decisions = await commit.commit(driver, edits)
    assert [d.operation.rev for d in decisions] == [n + 1 for n in range(5) for _ in "abc"]
    for slug in "abc":
        assert await aread_document(slug) == (5, "xxxxx")


async def test_a_refused_edit_costs_the_others_in_its_transaction_nothing(driver):
    await anew_document("doc", text="ab")
    edits = [edit("doc", [2, "c"], "good"), edit("doc", [5, "c"], "too-long"), edit("gone", ["x"], "nowhere")]
    good, too_long, nowhere = await commit.commit(driver, edits)
    assert good.operation.rev == 1
    assert (too_long.code, nowhere.code) == ("invalid-op", "unknown-document")
    assert await aread_document("doc") == (1, "abc")


async def test_a_lone_edit_to_a_missing_or_read_only_document_is_refused(driver):
    await anew_document("locked", text="ab")
    await Document.objects.filter(slug="locked").aupdate(read_only=True)
    [missing] = await commit.commit(driver, [edit("gone", ["x"], "g1")])
    [read_only] = await commit.commit(driver, [edit("locked", [2, "c"], "l1")])
    assert (missing.code, read_only.code) == ("unknown-document", "read-only")
    assert await aread_document("locked") == (0, "ab")


@pytest.mark.parametrize("batch", [False, True], ids=["lone", "batch"])
async def test_an_edit_sent_under_rights_that_changed_since_is_refused_and_the_rest_commit(driver, batch):
    """Lone (one statement on PostgreSQL) and in a batch (the locking way): the document's
    access_rev is compared under the row it moves; None is not checked."""
    await anew_document("doc")
    await Document.objects.filter(slug="doc").aupdate(access_rev=7)
    stale = Edit(slug="doc", base_rev=0, op=["x"], op_id="stale", session_id="s1", access_rev=6)
    current = Edit(slug="doc", base_rev=0, op=["y"], op_id="current", session_id="s1", access_rev=7)
    unchecked = Edit(slug="doc", base_rev=0, op=["z"], op_id="unchecked", session_id="s1")
    if batch:
        decisions = await commit.commit(driver, [stale, current, unchecked])
    else:
        decisions = [(await commit.commit(driver, [e]))[0] for e in (stale, current, unchecked)]
    assert codes(decisions)[0] == "access-changed"
    assert [d.operation.rev for d in decisions[1:]] == [1, 2]
    assert (await aread_document("doc"))[0] == 2


async def test_a_reused_id_is_refused_and_costs_its_batch_nothing(driver):
    await anew_document("doc")
    await commit.commit(driver, [edit("doc", ["a"], "a1")])
    reused, good = await commit.commit(
        driver, [edit("doc", [1, "b"], "a1", base_rev=1), edit("doc", [1, "c"], "c1", base_rev=1)]
    )
    assert reused.code == "duplicate-id"
    assert good.operation.rev == 2
    assert await aread_document("doc") == (2, "ac")


async def test_a_resend_gets_its_first_decision_and_is_not_applied_twice(driver):
    await anew_document("doc")
    [first] = await commit.commit(driver, [edit("doc", ["a"], "a1")])
    await commit.commit(driver, [edit("doc", [1, "b"], "b1", base_rev=1)])
    [again] = await commit.commit(driver, [edit("doc", ["a"], "a1")])
    assert again == Accepted(first.operation, duplicate=True)
    assert await aread_document("doc") == (2, "ab")


async def test_a_reused_id_with_other_content_is_refused_not_acknowledged(driver):
    """One edit alone (the one-statement way where the dialect has it) and in a batch (locking)."""
    await anew_document("doc")
    await commit.commit(driver, [edit("doc", ["a"], "a1")])
    [alone] = await commit.commit(driver, [edit("doc", ["z"], "a1")])
    batch = await commit.commit(driver, [edit("doc", ["y"], "a1"), edit("doc", [1, "b"], "b1", base_rev=1)])
    assert alone.code == "duplicate-id"
    assert [getattr(decision, "code", None) for decision in batch] == ["duplicate-id", None]
    assert await aread_document("doc") == (2, "ab")


class FailingAfterTheFirstCommit:
    """A driver whose first plan commits and then fails, as when the connection drops after COMMIT."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.runs = 0

    async def run(self, steps):
        self.runs += 1
        result = await self.inner.run(steps)
        if self.runs == 1:
            raise ConnectionError("connection lost after COMMIT")
        return result


@pytest.mark.logs_errors("a batch of 3 edits failed")
async def test_edits_a_failed_batch_had_committed_are_decided_as_new(driver):
    """The retry finds them stored; they are not duplicates, so that the committer broadcasts them."""
    await anew_document("doc")
    decisions = await commit.commit(
        FailingAfterTheFirstCommit(driver), [edit("doc", ["x"], op_id) for op_id in ("a1", "b1", "c1")]
    )
    assert [(d.operation.rev, d.duplicate) for d in decisions] == [(1, False), (2, False), (3, False)]


@pytest.mark.logs_errors("a batch of 3 edits failed", "edit poison to doc failed")
async def test_a_failing_edit_is_retried_alone_and_fails_alone(driver, poison_edits):
    await anew_document("doc")
    edits = [edit("doc", ["a"], "before"), edit("doc", ["b"], poison_edits), edit("doc", ["c"], "after")]
    decisions = await commit.commit(driver, edits)
    assert [type(d) for d in decisions] == [Accepted, RuntimeError, Accepted]
    assert await aread_document("doc") == (2, "ca")


@pytest.mark.postgresql
async def test_an_edit_survives_its_connection_to_the_database_being_cut(driver, caplog):
    """As after a PostgreSQL restart: the broken connection is replaced and the edit retried, the
    batch whole (a lost connection is no edit's fault), with a warning and no traceback."""
    await anew_document("doc")
    [first] = await commit.commit(driver, [edit("doc", ["a"], "a1")])
    assert first.operation.rev == 1
    # The driver's connection, at least.
    assert await sync_to_async(_other_sessions)("count(pg_terminate_backend(pid))") >= 1
    [second] = await commit.commit(driver, [edit("doc", [1, "b"], "a2", base_rev=1)])
    assert second.operation.rev == 2
    assert await aread_document("doc") == (2, "ab")
    assert "lost its database connection; trying a new one" in caplog.text


@pytest.mark.parametrize("documents", [1, 2])
async def test_random_batches_give_what_the_algorithm_gives_one_edit_after_another(driver, documents):
    """Stale revisions, resends and reused ids, in batches for one document or two, alone (one
    statement on PostgreSQL) or together (the locking way): every decision and every text is
    what ot.server gives applying the same edits in order, one at a time, in memory."""
    rng = random.Random(5)
    slugs = ("left", "right")[:documents]
    reference = {slug: server.MemoryLog() for slug in slugs}
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
                expected.append(server.accept(log, e, max_chars=10**6))
            except EditRejected as rejected:
                expected.append(rejected.code)
            texts[e.slug][log.rev :] = [log.text]
        decisions = await commit.commit(driver, batch)
        assert codes(decisions) == expected
        sent += [e for e, d in zip(batch, decisions, strict=True) if isinstance(d, Accepted)]
    for slug in slugs:
        assert await aread_document(slug) == (reference[slug].rev, reference[slug].text)


# PostgreSQL's round trips, through the asynchronous driver


@pytest.fixture
async def postgres():
    driver = drivers.PsycopgDriver()
    yield driver
    await driver.close()


@pytest.fixture
def round_trips(monkeypatch) -> list[list[str]]:
    """The asynchronous driver's round trips, each as the first words of its statements."""
    trips: list[list[str]] = []
    send = drivers.PsycopgDriver._send

    async def counted(database, plan, statements):
        trips.append([statement.sql.split()[0] for statement in statements])
        return await send(database, plan, statements)

    monkeypatch.setattr(drivers.PsycopgDriver, "_send", staticmethod(counted))
    return trips


ONE_STATEMENT = ["WITH"]  # the move, with the head and what came since if it did not move
LOCKING = [["BEGIN", "SELECT"], ["SELECT"], ["UPDATE", "INSERT", "COMMIT"]]


@pytest.mark.postgresql
async def test_on_postgresql_an_edit_on_the_head_takes_one_round_trip(postgres, round_trips):
    await anew_document("doc")
    await commit.commit(postgres, [edit("doc", ["a"], "a1")])
    assert round_trips == [ONE_STATEMENT]
    assert await aread_document("doc") == (1, "a")


@pytest.mark.postgresql
async def test_on_postgresql_an_edit_another_came_before_takes_one_more(postgres, round_trips):
    """The first attempt finds the document moved on and reads what came since; the second lands."""
    await anew_document("doc")
    await commit.commit(postgres, [edit("doc", ["a"], "a1")])
    round_trips.clear()
    [accepted] = await commit.commit(postgres, [edit("doc", ["b"], "b1")])  # made on revision 0
    assert round_trips == [ONE_STATEMENT, ONE_STATEMENT]
    assert accepted.operation.op == ["b", 1]
    assert await aread_document("doc") == (2, "ba")


@pytest.mark.postgresql
async def test_on_postgresql_an_edit_refused_on_the_revision_it_was_made_on_reads_the_head(
    postgres, round_trips, settings
):
    """Refused on the head its author saw, maybe through the guess's fault: the real head is read."""
    settings.EDITOR_MAX_DOCUMENT_CHARS = 3
    await anew_document("doc", text="ab")
    [refused] = await commit.commit(postgres, [edit("doc", [2, "cd"], "c1")])
    assert refused.code == "document-too-large"
    assert round_trips == [["SELECT"]]
    assert await aread_document("doc") == (0, "ab")


@pytest.mark.postgresql
async def test_on_postgresql_several_edits_go_the_locking_way(postgres, round_trips):
    for slug in "ab":
        await anew_document(slug)
    await commit.commit(postgres, [edit("a", ["x"], "a1"), edit("b", ["y"], "b1")])
    assert round_trips == [["BEGIN", "SELECT"], ["UPDATE", "INSERT", "COMMIT"]]


@pytest.mark.postgresql
async def test_on_postgresql_edits_that_keep_losing_races_go_the_locking_way(
    postgres, round_trips, monkeypatch
):
    """Another worker commits just before each one-statement attempt; the locking way then settles it."""
    await anew_document("doc")
    counted = drivers.PsycopgDriver._send

    @sync_to_async
    def another_worker_types() -> None:
        head = Document.objects.get(slug="doc")
        other = edit("doc", [head.length, "z"] if head.length else ["z"], f"z{head.rev}", base_rev=head.rev)
        [decision] = drivers.DjangoDriver().run(commit.commit_plan([other], dialect=sql.POSTGRESQL))
        assert isinstance(decision, Accepted)

    async def racing(database, plan, statements):
        if statements[0].prepare:
            await another_worker_types()
        return await counted(database, plan, statements)

    monkeypatch.setattr(drivers.PsycopgDriver, "_send", staticmethod(racing))
    [accepted] = await commit.commit(postgres, [edit("doc", ["a"], "a1")])
    assert round_trips == [ONE_STATEMENT, ONE_STATEMENT, *LOCKING]
    assert accepted.operation.rev == 3
    assert await aread_document("doc") == (3, "azz")


@pytest.mark.postgresql
async def test_on_postgresql_a_reused_id_fails_the_statement_and_the_locking_way_names_it(
    postgres, round_trips
):
    await anew_document("doc")
    await commit.commit(postgres, [edit("doc", ["a"], "a1")])
    await commit.commit(postgres, [edit("doc", [1, "b"], "b1", base_rev=1)])
    round_trips.clear()
    [rejected] = await commit.commit(
        postgres, [edit("doc", [2, "c"], "a1", base_rev=2)]
    )  # on the head, an old id
    assert rejected.code == "duplicate-id"
    assert round_trips == [ONE_STATEMENT, ["BEGIN", "SELECT"], ["SELECT"], ["COMMIT"]]
    assert await aread_document("doc") == (2, "ab")


@pytest.mark.postgresql
async def test_on_postgresql_the_one_statement_is_prepared_once_per_connection(postgres):
    await anew_document("doc")
    for n in range(3):
        await commit.commit(postgres, [edit("doc", [n, "x"] if n else ["x"], f"e{n}", base_rev=n)])
    async with postgres._connection.cursor() as cursor:
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


@pytest.mark.postgresql
async def test_on_postgresql_an_edit_that_waited_for_the_row_another_moved_goes_the_locking_way(
    postgres, round_trips
):
    """Its statement's snapshot still shows the head it expected: no second attempt on it."""
    await anew_document("doc")
    holding, release = threading.Event(), threading.Event()

    def another_worker() -> None:
        try:
            with transaction.atomic():
                Document.objects.select_for_update().get(slug="doc")
                holding.set()
                assert release.wait(TIMEOUT)
                [decision] = drivers.DjangoDriver().run(
                    commit.commit_plan([edit("doc", ["z"], "z1")], dialect=sql.POSTGRESQL)
                )
                assert isinstance(decision, Accepted)
        finally:
            connection.close()

    other = threading.Thread(target=another_worker)
    other.start()
    assert await asyncio.to_thread(holding.wait, TIMEOUT)
    submitted = asyncio.ensure_future(commit.commit(postgres, [edit("doc", ["a"], "a1")]))
    await asyncio.to_thread(_someone_waits_for_a_row_lock)
    release.set()
    [accepted] = await submitted
    await asyncio.to_thread(other.join, TIMEOUT)
    assert round_trips == [ONE_STATEMENT, *LOCKING]
    assert accepted.operation.op == ["a", 1]
    assert await aread_document("doc") == (2, "az")


@pytest.mark.postgresql
@pytest.mark.logs_errors("a batch of 2 edits failed")
async def test_on_postgresql_a_failure_inside_the_locking_transaction_closes_its_connection(
    postgres, monkeypatch, fail_once
):
    """The transaction is left open by the failure; closing the connection ends it, and the
    edits, retried one by one on a new connection, all land."""
    for slug in "ab":
        await anew_document(slug)
    opened = []
    connected = drivers.PsycopgDriver._connected

    async def recorded(driver):
        database = await connected(driver)
        if database not in opened:
            opened.append(database)
        return database

    monkeypatch.setattr(drivers.PsycopgDriver, "_connected", recorded)
    fail_once(commit, "_decide")
    decisions = await commit.commit(postgres, [edit("a", ["x"], "a1"), edit("b", ["y"], "b1")])
    assert [d.operation.rev for d in decisions] == [1, 1]
    assert len(opened) == 2
    assert opened[0].closed
    assert (await aread_document("a"), await aread_document("b")) == ((1, "x"), (1, "y"))
