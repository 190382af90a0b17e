"""The shipped browser client (client.js, socket.js) against real workers, many tabs in Node.

These claims are about the page's own code, run unmodified by tests/nodetabs/tabs.mjs:
concurrent typing converges with no keystroke lost or doubled; a worker's restart
(1012) and its crash (1006) are survived by reconnecting and resuming, with what was
typed meanwhile delivered and nothing acknowledged lost.
"""

import asyncio
import time

import pytest

from tests.nodetabs import NodeTabs, all_live, converged, typed_at_least

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


async def test_three_tabs_on_two_workers_type_concurrently_and_converge(start_worker):
    workers = [start_worker("a"), start_worker("b")]
    async with NodeTabs() as tabs:
        for i in range(3):
            await tabs.open(f"t{i}", f"{workers[i % 2].ws_url}/ws/docs/node-storm/")
        await tabs.wait_for(all_live, what="three tabs live")
        started = time.monotonic()
        await tabs.typing(every_ms=(5, 40), seed=20261201)
        await tabs.wait_for(typed_at_least(90), what="each tab typing 90 characters", within=20)
        await tabs.stop_typing()
        typed_for = time.monotonic() - started

        _, text = await converged(tabs, "node-storm")
        state = await tabs.state()
        print(
            f"typed for {typed_for:.1f} s: {len(text)} characters, acks {[t['acks'] for t in state.values()]}"
        )
        for tab in state.values():
            assert tab["errors"] == []
            assert tab["closes"] == []
            assert tab["acked"] == len(tab["typed"])


async def test_a_restarted_worker_s_tabs_come_back_by_themselves_and_deliver_offline_typing(
    start_worker,
):
    restarting, staying = start_worker("restarting"), start_worker("staying")
    async with NodeTabs() as tabs:
        for name, worker in [("r0", restarting), ("r1", restarting), ("s0", staying)]:
            await tabs.open(name, f"{worker.ws_url}/ws/docs/node-restart/")
        await tabs.wait_for(all_live, what="three tabs live")
        await tabs.typing(every_ms=(5, 40), seed=7)
        await tabs.wait_for(typed_at_least(20), what="some typing before the restart")

        stopped_at = time.time()
        await asyncio.to_thread(restarting.stop)  # SIGTERM: sockets closed with 1012, then exit
        down = await tabs.wait_for(
            lambda s: not s["r0"]["live"] and not s["r1"]["live"], what="the restarting worker's tabs to drop"
        )
        for name in ("r0", "r1"):
            await tabs.keys(name, 5)  # typed while nothing listens on their port
        again = await asyncio.to_thread(start_worker, "restarted", restarting.port)
        assert again.port == restarting.port

        await tabs.wait_for(all_live, what="every tab live again")
        back = tabs.back_live_after(stopped_at)
        await tabs.wait_for(
            lambda s: all(len(s[name]["typed"]) >= len(down[name]["typed"]) + 20 for name in s),
            what="typing after the restart",
        )
        await tabs.stop_typing()
        _, text = await converged(tabs, "node-restart")
        state = await tabs.state()

    for name in ("r0", "r1"):
        tab = state[name]
        assert tab["closes"][0] == 1012, f"{name} closed with {tab['closes']}"
        assert set(tab["closes"][1:]) <= {1006}, "only refused attempts while the port was closed"
        assert tab["first_frames"][0] == "snapshot"
        assert tab["first_frames"][-1] == "resume"
        assert len(tab["typed_offline"]) >= 5
        assert all(char in text for char in tab["typed_offline"])
        assert tab["live_since"] / 1000 > stopped_at
    assert state["s0"]["closes"] == []
    for name, tab in state.items():
        assert tab["errors"] == [], f"{name} got error frames"
        acked = set(down[name]["typed"]) - set(down[name]["unacked"])
        assert all(char in text for char in acked), f"{name}: an acknowledged keystroke was lost"
    assert sorted(back) == ["r0", "r1"]
    print(f"live again after the SIGTERM: {back} s")


async def test_a_tab_and_the_server_agree_after_the_worker_is_killed_and_restarted(start_worker):
    """SIGKILL: no close frame (1006); the tab backs off, resumes, and its pending edit's fate is settled."""
    crashing, staying = start_worker("crashing"), start_worker("staying")
    async with NodeTabs() as tabs:
        await tabs.open("t0", f"{crashing.ws_url}/ws/docs/node-crash/", seed=3)
        await tabs.open("other", f"{staying.ws_url}/ws/docs/node-crash/")
        await tabs.wait_for(all_live, what="the tabs live")
        await tabs.typing(every_ms=(5, 20), seed=11)
        await tabs.wait_for(typed_at_least(40), what="typing before the crash")

        killed_at = time.time()
        await asyncio.to_thread(crashing.kill)  # no close frame: the TCP connection just ends
        crashed = await tabs.wait_for(lambda s: not s["t0"]["live"], what="the tab to see the crash")
        await tabs.keys("t0", 5)
        again = await asyncio.to_thread(start_worker, "after-crash", crashing.port)
        assert again.port == crashing.port
        await tabs.wait_for(all_live, what="the tab live again", within=60)
        await tabs.stop_typing()
        _, text = await converged(tabs, "node-crash")
        state = await tabs.state()
        back = tabs.back_live_after(killed_at)

    tab = state["t0"]
    assert set(tab["closes"]) == {1006}, f"closes {tab['close_reasons']}, error frames {tab['error_frames']}"
    assert tab["errors"] == []
    assert tab["first_frames"] == ["snapshot", "resume"]
    # What the server had acknowledged before it died is there, once; so is what was pending then.
    before = crashed["t0"]
    acked = [char for char in before["typed"] if char not in before["unacked"]]
    assert len(acked) == before["acked"] > 0
    assert all(text.count(char) == 1 for char in acked + before["unacked"] + tab["typed_offline"])
    assert len(tab["typed_offline"]) >= 5
    assert state["other"]["closes"] == []
    assert list(back) == ["t0"]
    print(f"live again {back['t0']:.1f} s after the SIGKILL; pending then: {len(before['unacked'])}")
