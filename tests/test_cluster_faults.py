"""Faults of a deployment, survived: the local cluster (deploy/cluster.py: three real workers
behind real nginx running deploy/nginx.conf, a Redis of its own, PostgreSQL through a
proxy the test cuts), six tabs of the shipped browser client (tests/nodetabs) typing
through nginx.

After each fault every tab converges on the database's text, every keystroke typed
(while connected or not) is there exactly once, no error frame was sent, only the close
codes the fault explains were seen, and the session table shows exactly the tabs'
connections as open. Times until every tab is live again are printed (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings

from deploy.cluster import Cluster
from editor.models import EditingSession
from tests import servers
from tests.nodetabs import NodeTabs, all_live, converged, typed_at_least
from tests.proxy import TcpProxy

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

WORKERS = 3
TABS = [f"t{i}" for i in range(6)]
# Short, so that a killed worker's sessions are closed within a few seconds (timeout + heartbeat).
LIVENESS = {"EDITOR_HEARTBEAT_SECONDS": "0.5", "EDITOR_SESSION_TIMEOUT_SECONDS": "3"}


@pytest.fixture
async def cluster(worker_env, tmp_path, logged_errors):
    """The cluster, with ``.redis`` (a RedisServer) and ``.database`` (the TcpProxy) to fault."""
    redis = await asyncio.to_thread(servers.RedisServer(tmp_path).start)
    database = settings.DATABASES["default"]
    proxy = await TcpProxy(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432)).start()
    url = f"postgres://{database['USER']}@127.0.0.1:{proxy.port}/{database['NAME']}"
    env = {
        **worker_env,
        **LIVENESS,
        "REDIS_URL": redis.url,
        "DATABASE_URL": url,
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    running = Cluster(WORKERS, env, tmp_path)
    running.redis, running.database = redis, proxy
    try:
        # In a thread: this loop runs the database proxy the workers start through.
        await asyncio.to_thread(running.start)  # which stops what it started if it fails
        yield running
        await asyncio.to_thread(running.stop)
    finally:
        await proxy.stop()
        redis.stop()
    for worker in running.workers:
        logged_errors.add_process_log(worker.name, worker.log())


@pytest.fixture
async def tabs(cluster):
    """Six tabs on one document through nginx, live, spread over the workers by least_conn."""
    async with NodeTabs() as node:
        for seed, name in enumerate(TABS):
            await node.open(name, f"{cluster.ws_url}/ws/docs/faults/", origin=cluster.url, seed=seed)
        await node.wait_for(all_live, what="six tabs live through nginx")
        yield node


async def workers_of(tabs: NodeTabs) -> dict[str, str]:
    """Each tab's worker, as its session row says."""
    state = await tabs.state(["session"])
    rows = EditingSession.objects.filter(session_id__in=[tab["session"] for tab in state.values()])
    worker_of = {row.session_id: row.worker async for row in rows}
    return {name: worker_of[tab["session"]] for name, tab in state.items()}


async def sessions_true(tabs: NodeTabs, slug: str = "faults") -> None:
    """The session table shows as open exactly the tabs' current connections (dead ones closed)."""
    state = await tabs.state(["session"])
    expected = {tab["session"] for tab in state.values()}

    def open_sessions() -> set[str]:
        rows = EditingSession.objects.filter(document__slug=slug, disconnected_at=None)
        return set(rows.values_list("session_id", flat=True))

    await asyncio.to_thread(
        servers.wait_until,
        lambda: open_sessions() == expected,
        timeout=15,
        what=f"the open sessions to be the tabs' {len(expected)}",
    )


async def typed_through(tabs: NodeTabs, fault, *, keys: int = 15) -> dict[str, dict]:
    """Type on every tab, run ``fault`` (awaited), type on, stop, converge; returns the state."""
    await tabs.typing(every_ms=(10, 60), seed=20261202)
    await tabs.wait_for(typed_at_least(keys), what="typing before the fault")
    await fault()
    state = await tabs.state(["typed"])
    await tabs.wait_for(
        lambda s: all(len(s[name]["typed"]) >= len(state[name]["typed"]) + keys for name in s),
        what="typing after the fault",
    )
    await tabs.stop_typing()
    await converged(tabs, "faults")
    return await tabs.state()


def assert_clean(state: dict[str, dict], *, closes: set[int]) -> None:
    for name, tab in state.items():
        assert tab["errors"] == [], f"{name} got error frames"
        assert set(tab["closes"]) <= closes, f"{name} closed with {tab['closes']}"
        assert tab["acked"] == len(tab["typed"])


async def test_a_killed_worker_s_tabs_move_to_the_others_and_lose_nothing(cluster, tabs):
    victim = cluster.workers[1]
    on_victim = [name for name, worker in (await workers_of(tabs)).items() if worker == victim.name]
    assert on_victim, "least_conn spreads six tabs over three workers"

    async def kill() -> None:
        killed_at = time.time()
        await asyncio.to_thread(victim.kill)
        await tabs.wait_for(all_live, what="every tab live again")
        print(f"SIGKILL: live again after {tabs.back_live_after(killed_at)} s")

    state = await typed_through(tabs, kill)
    assert_clean(state, closes={1006})
    assert all(state[name]["closes"] == [1006] for name in on_victim)
    assert all(len(state[name]["typed_offline"]) > 0 for name in on_victim), "typed while reconnecting"
    await sessions_true(tabs)


async def test_a_stopped_worker_closes_with_1012_and_its_tabs_resume_elsewhere_at_once(cluster, tabs):
    victim = cluster.workers[0]
    on_victim = [name for name, worker in (await workers_of(tabs)).items() if worker == victim.name]
    assert on_victim

    async def stop() -> None:
        stopped_at = time.time()
        await asyncio.to_thread(victim.terminate)
        await tabs.wait_for(all_live, what="every tab live again")
        back = tabs.back_live_after(stopped_at)
        print(f"SIGTERM: live again after {back} s")
        assert sorted(back) == sorted(on_victim)

    state = await typed_through(tabs, stop)
    assert_clean(state, closes={1012})
    assert all(state[name]["closes"] == [1012] for name in on_victim)
    await sessions_true(tabs)
    log = victim.log()
    assert "shutting down" in log.lower()


async def test_after_every_worker_restarts_at_once_every_tab_is_live_within_5_s_of_them_being_ready(
    cluster, tabs
):
    async def restart_all() -> None:
        stopped_at = time.time()
        ready = await asyncio.to_thread(cluster.restart_all)
        ready_at = time.time() - (time.monotonic() - ready)
        await tabs.wait_for(all_live, what="every tab live again", within=30)
        back = tabs.back_live_after(stopped_at)
        after_ready = {name: round(seconds - (ready_at - stopped_at), 2) for name, seconds in back.items()}
        ready_after = ready_at - stopped_at
        print(f"restart of every worker: ready after {ready_after:.1f} s; tabs live {after_ready} s later")
        assert sorted(back) == TABS, "every tab was closed"
        assert max(after_ready.values()) < 5

    state = await typed_through(tabs, restart_all)
    # 1012 from the stopping workers; 1006 for attempts nginx could not pass to any worker.
    assert_clean(state, closes={1012, 1006})
    assert all(tab["closes"][0] == 1012 for tab in state.values())
    await sessions_true(tabs)


async def test_after_a_redis_restart_idle_tabs_get_an_edit_made_meanwhile_within_a_second(cluster, tabs):
    typist, idle = TABS[0], TABS[1:]
    await tabs.insert(typist, "before ")
    await tabs.wait_for(lambda s: all(tab["text"] == "before " for tab in s.values()), what="the first edit")

    await asyncio.to_thread(cluster.redis.stop)
    await tabs.wait_for(
        lambda s: all(s[name]["status"] == "delayed" for name in idle), what="the pages to say: delayed"
    )
    await tabs.insert(typist, "during")
    await tabs.wait_for(lambda s: s[typist]["state"] == "synchronised", what="the edit committed")
    await asyncio.to_thread(cluster.redis.start)
    back = time.monotonic()
    await tabs.wait_for(
        lambda s: all(tab["text"] == "before during" for tab in s.values()), what="the edit made meanwhile"
    )
    elapsed = time.monotonic() - back
    print(f"Redis back -> every idle tab has the edit made meanwhile after {elapsed * 1000:.0f} ms")
    assert elapsed < 1
    state = await tabs.wait_for(lambda s: all(tab["status"] == "live" for tab in s.values()), what="live")
    assert_clean(state, closes=set())
    await sessions_true(tabs)


async def test_a_5_s_database_cut_closes_no_one_shows_no_error_and_commits_everything_after(cluster, tabs):
    async def cut() -> None:
        cluster.database.cut()
        await asyncio.sleep(5)  # the outage itself, not a wait for something
        cluster.database.restore()

    state = await typed_through(tabs, cut)
    assert_clean(state, closes=set())
    assert all(tab["opens"] == 1 for tab in state.values()), "nobody reconnected"
    await sessions_true(tabs)
