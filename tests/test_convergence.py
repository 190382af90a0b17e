"""The randomized runs of tests/ot/test_simulation.py, against the shipped consumer over the real protocol.

Two real Daphne workers share this run's PostgreSQL and Redis. Four tabs on
both type at once through a fault layer (tests/faultytab.py) that does to
them what the real network may: broadcasts held back so that later frames
and acks overtake them, broadcasts lost, sockets dropped with edits in
flight and resumed at once (maybe on the other worker), and now and then a
tab away for longer than the workers' short history, typing meanwhile, so
that it comes back through a snapshot and rebases its pending edit. Then the
faults stop, everything settles, and every tab holds the database's text
with every keystroke in it exactly once.
"""

import asyncio
import random
from collections import Counter

import pytest
from django.db.models import Min

from editor import ot
from editor.models import Document, Operation
from tests.documents import aread_document
from tests.faultytab import Faults, FaultyTab, Scene
from tests.randomized import Keystrokes

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

# A short history, so that a tab away for a second or so comes back through a
# snapshot; not shorter in time than anything stays in flight (an ack held in
# a tab's queue behind a gap is fetched within GAP_TIMEOUT), so the server
# can always say what became of an edit that was sent (the last test of this
# file goes shorter).
RETAIN_REVISIONS = 10
RETAIN_SECONDS = 1
SHORT_HISTORY = {
    "EDITOR_OPLOG_RETAIN": str(RETAIN_REVISIONS),
    "EDITOR_OPLOG_RETAIN_SECONDS": str(RETAIN_SECONDS),
    "EDITOR_HISTORY_KEEP_DAYS": "0",
}

# The stored text is brought up to date, and the log compacted, every 100th
# revision (editor/store). The document starts (with no history behind it)
# just before one, and one tab goes away soon after it: by the next, more than
# RETAIN_SECONDS later, its revision is forgotten.
START_REV = 95
SEEDS = [1, 2]
TABS = 4
KEYSTROKES = 120  # per tab
FAULTS = {"hold": 0.2, "lose": 0.05, "drop_after_send": 0.03}
DROP = 0.01  # per keystroke: the socket drops while typing, and comes back at once
AWAY_AT = range(5, 15)  # one tab per run goes away (for longer than the history) at one of these keystrokes
AWAY_FOR_AT_MOST = 10  # seconds
AFTER_COMING_BACK = 30  # keystrokes the tab that was away types after it came back


async def forgotten(slug: str, rev: int) -> bool:
    """Whether the document's log has forgotten revision ``rev`` (it only ever loses a prefix)."""
    oldest = await Operation.objects.filter(document__slug=slug).aaggregate(oldest=Min("rev"))
    return oldest["oldest"] is not None and oldest["oldest"] > rev


class Run:
    """One seed's run: its tabs, typists, and who is typing now."""

    def __init__(self, seed: int, urls: list[str]) -> None:
        self.slug = f"converge-{seed}"
        self.scene = Scene()
        self.tabs = [
            FaultyTab(
                self.scene,
                urls[i % 2 :] + urls[: i % 2],  # half the tabs start on each worker
                self.slug,
                f"s{seed}t{i}",
                rng=random.Random(f"{seed}:{i}:faults"),
                faults=Faults(**FAULTS),
            )
            for i in range(TABS)
        ]
        self.typists = [Keystrokes(random.Random(f"{seed}:{i}:keys"), i) for i in range(TABS)]
        self.rngs = [random.Random(f"{seed}:{i}:plan") for i in range(TABS)]
        plan = random.Random(f"{seed}:away")
        self.away_at = {plan.randrange(TABS): plan.choice(AWAY_AT)}  # tab -> keystroke
        self.away = 0  # tabs away now

    def describe(self) -> str:
        return "; ".join(tab.describe() for tab in self.tabs)

    async def type(self, i: int) -> None:
        """KEYSTROKES keystrokes (fewer after coming back), and more while another tab is away."""
        tab, typist, rng = self.tabs[i], self.typists[i], self.rngs[i]
        n, budget = 0, KEYSTROKES
        while n < budget or self.away:
            if self.away_at.get(i) == n:
                await self.go_away(i)
                budget = min(budget, n + AFTER_COMING_BACK)
            elif rng.random() < DROP and tab.connected:
                tab.paths["socket dropped while typing"] += 1
                tab.reconnect(rng.choice(tab.server_urls))
            tab.type(typist.edit(tab.text))
            n += 1
            await asyncio.sleep(rng.uniform(0.002, 0.02))  # typing speed, not synchronisation

    async def go_away(self, i: int) -> None:
        """Leave with nothing in flight, type offline, come back once our revision is forgotten."""
        tab, typist, rng = self.tabs[i], self.typists[i], self.rngs[i]
        await self.scene.wait_for(
            lambda: tab.settled and not tab.reconnecting, what=f"{tab.name} to settle", state=self.describe
        )
        left_at = tab.client.rev
        tab.drop()
        self.away += 1
        for _ in range(rng.randint(1, 4)):
            tab.type(typist.edit(tab.text))
            await asyncio.sleep(rng.uniform(0.002, 0.02))  # typing speed
        # Nothing announces a compaction: the database is asked until the
        # revision after ours is gone (the others type on meanwhile).
        try:
            async with asyncio.timeout(AWAY_FOR_AT_MOST):
                while not await self.forgotten(left_at + 1):  # noqa: ASYNC110 - no event to wait on
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise TimeoutError(f"revision {left_at + 1} not forgotten after {AWAY_FOR_AT_MOST} s") from None
        tab.paths["came back after the history was forgotten"] += 1
        self.away -= 1
        await tab.connect(rng.choice(tab.server_urls))

    async def forgotten(self, rev: int) -> bool:
        return await forgotten(self.slug, rev)

    async def quiesce(self) -> tuple[int, str]:
        """Faults off, everyone back, every frame handled; returns the database's (rev, text)."""
        for tab in self.tabs:
            tab.faults.on = False
            tab.release_held()
            if not tab.connected and not tab.reconnecting:
                tab.reconnect()
        await self.scene.wait_for(
            lambda: all(tab.settled for tab in self.tabs), what="every tab to settle", state=self.describe
        )
        # Nobody has anything in flight: the head is final. A lost last broadcast
        # reveals no gap; a ping's pong does (the browser pings every 25 s).
        rev, text = await aread_document(self.slug)
        for tab in self.tabs:
            tab.ping()
        await self.scene.wait_for(
            lambda: all(tab.settled and tab.client.rev == rev for tab in self.tabs),
            what=f"every tab at revision {rev}",
            state=self.describe,
        )
        assert await aread_document(self.slug) == (rev, text), "the document changed after it settled"
        return rev, text


async def run_with_faults(seed: int, urls: list[str]) -> Counter:
    """Type with faults on, quiesce, check convergence and every keystroke; returns the paths taken."""
    run = Run(seed, urls)
    await Document.objects.acreate(slug=run.slug, rev=START_REV, snapshot_rev=START_REV)
    for tab in run.tabs:
        await tab.connect()
    await asyncio.gather(*(run.type(i) for i in range(TABS)))
    rev, text = await run.quiesce()
    tabs, scene = run.tabs, run.scene

    for tab in tabs:
        assert (tab.client.rev, tab.client.server_text, tab.text) == (rev, text, text), f"{tab.name} diverged"
    document = await Document.objects.aget(slug=run.slug)
    assert (document.rev, document.length) == (rev, len(text))
    # Only "stale-revision" is ever expected (an edit older than the history; the tab
    # resumes), and only if a tab stalled for longer than RETAIN_SECONDS.
    errors = [error for tab in tabs for error in tab.errors if error.get("code") != "stale-revision"]
    assert not errors, f"the server refused frames: {errors}"

    typed = [char for typist in run.typists for char in typist.inserted]
    assert len(typed) > TABS * KEYSTROKES // 2
    assert all(op_id in tab.sent for tab in tabs for op_id in tab.client.acknowledged)
    acknowledged_chars = {
        char for tab in tabs for op_id in tab.client.acknowledged for char in tab.sent[op_id]
    }
    assert acknowledged_chars == set(typed), "every keystroke was in an acknowledged edit"
    # An edit sent before a snapshot that could not vouch for it may be in twice: the
    # documented known limit (its ack was lost), which needs a tab stalled past RETAIN_SECONDS.
    unvouched = {char for tab in tabs for kept in tab.unvouched for char in kept}
    wrong = {
        char: text.count(char)
        for char in typed
        if text.count(char) != 1 and not (char in unvouched and text.count(char) == 2)
    }
    assert not wrong, f"seed {seed}: keystrokes lost or doubled (char: times found): {wrong}"

    # Every tab was told the same story: one edit per revision, one revision per edit,
    # and the database's retained operations agree.
    assert all(len(ids) == 1 for ids in scene.revisions.values()), "two edits told as one revision"
    assert all(len(revs) == 1 for revs in scene.revisions_of.values()), "an edit told at two revisions"
    stored = [row async for row in Operation.objects.filter(document=document).values_list("rev", "op_id")]
    assert stored[-1][0] == rev
    assert all(scene.revisions.get(stored_rev, {op_id}) == {op_id} for stored_rev, op_id in stored)

    for tab in tabs:
        await tab.close()
    return scene.paths


async def test_random_faulty_typing_on_two_workers_converges_and_takes_every_recovery_path(start_worker):
    """Seeded runs against real workers: the same text everywhere, every keystroke once, every path taken."""
    workers = await asyncio.gather(
        *(asyncio.to_thread(start_worker, name, **SHORT_HISTORY) for name in ("a", "b"))
    )
    urls = [worker.ws_url for worker in workers]
    paths = Counter()
    for seed in SEEDS:
        paths += await run_with_faults(seed, urls)
    print(f"recovery paths over seeds {SEEDS}: {dict(sorted(paths.items()))}")
    for path in [
        "broadcast lost",
        "gap fetched",
        "frame arrived before the revision before it",
        "frame resume",
        "own pending edit found among the revisions",
        "snapshot after history was forgotten",
        "pending edits rebased on a snapshot",
    ]:
        assert paths[path] > 0, f"no run took the path: {path} ({dict(paths)})"


# Found by these runs with EDITOR_OPLOG_RETAIN_SECONDS=0, and fixed in both
# client twins: a tab whose own edit's ack had arrived but waited in ``early``
# behind a missing revision threw that ack away when its fetch was answered
# with a snapshot, reconnected, and, the history no longer holding the edit,
# was told ``"pending": {"rev": null}``: it sent the edit again under a new id.
# A browser's background tab, whose timers are throttled, could meet it.
async def test_an_edit_whose_ack_a_lagging_tab_holds_is_applied_once_when_the_history_is_forgotten(
    start_worker,
):
    """A tab holding its edit's ack behind a gap, whose history then goes, keeps the edit once."""
    short = {"EDITOR_OPLOG_RETAIN": "1", "EDITOR_OPLOG_RETAIN_SECONDS": "0", "EDITOR_HISTORY_KEEP_DAYS": "0"}
    worker = start_worker("short", **short)
    slug = "lagging-ack"
    await Document.objects.acreate(slug=slug, rev=START_REV, snapshot_rev=START_REV)
    scene = Scene()
    lagging = FaultyTab(scene, [worker.ws_url], slug, "lagging", faults=Faults(lose=1.0))
    lagging.gap_timeout = 3600  # a throttled background tab: its gap timer has not fired yet
    typist = FaultyTab(scene, [worker.ws_url], slug, "typist")
    await lagging.connect()
    await typist.connect()

    async def type_one() -> None:
        typist.type(ot.normalize([len(typist.text), "a"]))
        await scene.wait_for(lambda: typist.settled, what="the typist's ack")

    try:
        await type_one()  # revision START_REV + 1, whose broadcast the lagging tab loses
        lagging.type(ot.normalize(["✓", len(lagging.text)]))
        pending_id = lagging.client.outstanding.op_id
        ack_rev = START_REV + 2
        await scene.wait_for(lambda: ack_rev in lagging.client.early, what="the ack, behind the gap")
        assert lagging.client.early[ack_rev] == {"type": "ack", "rev": ack_rev, "id": pending_id}
        while typist.client.rev < 100:  # the 100th revision compacts the log
            await type_one()
        # Nothing announces a compaction: the database is asked until it is done.
        async with asyncio.timeout(10):
            while not await forgotten(slug, ack_rev):  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.02)

        lagging.faults.on = False
        lagging.fetch_gap_now()  # answered with a snapshot, which holds the edit its ack vouched for
        await scene.wait_for(lambda: lagging.settled and typist.settled, what="both tabs to settle")
        rev, text = await aread_document(slug)
        typist.ping()
        await scene.wait_for(lambda: typist.client.rev == rev, what="the typist at the head")
        assert lagging.text == typist.text == text
        assert text.count("✓") == 1, (
            f"the edit acknowledged at {ack_rev} is in the text {text.count('✓')} times"
        )
    finally:
        for tab in (lagging, typist):
            await tab.close()
