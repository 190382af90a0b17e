"""The load generator: simulated tabs in several processes, one scenario at a time.

A scenario is rooms x clients, some of them typists typing at a fixed rate
for a while. Clients are spread over the server URLs round-robin, so every
room spans every server process. The coordinator starts agent processes
(asyncio each), which connect their share of the clients, wait at a barrier,
type, wait for the last deliveries to drain, and report counts and a latency
histogram. Latency is from the moment a keystroke is typed to its arrival at
each other client of the room.

A delivery is a keystroke reaching another client: the unit the reference
servers relay, one message per keystroke. The editor's clients keep one edit
in flight and fold what is typed meanwhile into the next (as the browser
does), so one of its frames can deliver several keystrokes; frames are
counted too. Each keystroke of such a frame is given the latency of the
oldest one, which overstates the others'.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass, field

from bench.clients import CLIENTS
from bench.histogram import Histogram

CONNECT_CONCURRENCY = 50


@dataclass(frozen=True)
class Scenario:
    name: str
    rooms: int
    clients_per_room: int
    typists_per_room: int
    interval: float  # seconds between one typist's keystrokes
    duration: float  # seconds of typing
    drain: float = 3.0  # seconds to wait for the last deliveries


@dataclass
class Result:
    scenario: Scenario
    connections: int = 0
    keystrokes: int = 0
    messages: int = 0  # frames the typists sent (ops for the product)
    expected: int = 0  # deliveries owed: each keystroke to every other client of its room
    received: int = 0  # keystrokes delivered
    frames: int = 0  # frames that delivered them
    errors: int = 0
    seconds: float = 0.0
    latency: Histogram = field(default_factory=Histogram)

    @property
    def lost(self) -> int:
        return self.expected - self.received

    @property
    def deliveries_per_second(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return self.latency.percentile(fraction) / 1000


def _assignments(scenario: Scenario, urls: list[str], agents: int) -> list[list[tuple]]:
    """Each agent's clients: (url, room, name, is_typist).

    Round-robin over the URLs within each room (every room spans every
    server) with each room starting one further (typists spread over the
    servers too), and round-robin over the agents.
    """
    plan: list[list[tuple]] = [[] for _ in range(agents)]
    index = 0
    for room in range(scenario.rooms):
        for member in range(scenario.clients_per_room):
            spec = (
                urls[(room + member) % len(urls)],
                f"bench-{room}",
                f"r{room}c{member}",
                member < scenario.typists_per_room,
            )
            plan[index % agents].append(spec)
            index += 1
    return plan


async def _agent_main(kind: str, specs: list[tuple], scenario: Scenario, barrier, results) -> None:
    histogram = Histogram()
    received = frames = 0

    def deliver(sent_ns: int, received_ns: int, keystrokes: int) -> None:
        nonlocal received, frames
        received += keystrokes
        frames += 1
        histogram.add((received_ns - sent_ns) / 1000, keystrokes)

    client_class = CLIENTS[kind]
    clients = [client_class(url, room, name, deliver) for url, room, name, _ in specs]
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(client) -> None:
        async with limit:
            await client.connect()

    await asyncio.gather(*(connect(client) for client in clients))
    readers = [asyncio.create_task(client.run()) for client in clients]
    typists = [client for client, spec in zip(clients, specs, strict=True) if spec[3]]
    await asyncio.to_thread(barrier.wait)

    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def type_steadily(client, offset: float) -> None:
        """Keystrokes at offset, offset + interval, ... until the duration is over."""
        keystroke = 0
        while (at := offset + keystroke * scenario.interval) < scenario.duration:
            delay = begin + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await client.type()
            keystroke += 1

    started = time.monotonic()
    # Typists start spread over one interval, as people do.
    await asyncio.gather(
        *(
            type_steadily(client, scenario.interval * i / max(len(typists), 1))
            for i, client in enumerate(typists)
        )
    )
    typed_for = time.monotonic() - started
    # Every agent listens until the whole scenario is over, typists or not.
    await asyncio.sleep(max(0.0, begin + scenario.duration - loop.time()) + scenario.drain)
    typed_by_room: dict[str, int] = {}
    for client, spec in zip(clients, specs, strict=True):
        typed_by_room[spec[1]] = typed_by_room.get(spec[1], 0) + client.keystrokes
    report = {
        "connections": len(clients),
        "keystrokes": sum(client.keystrokes for client in clients),
        "sent": sum(client.sent for client in clients),
        "typed_by_room": typed_by_room,
        "received": received,
        "frames": frames,
        "errors": sum(client.errors for client in clients),
        "seconds": typed_for,
        "histogram": histogram.state(),
    }
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()
    for reader in readers:
        reader.cancel()
    results.put(report)


def _agent_process(kind, specs, scenario, barrier, results) -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # the generator's own speed matters at saturation

        uvloop.install()
    asyncio.run(_agent_main(kind, specs, scenario, barrier, results))


def run_scenario(kind: str, urls: list[str], scenario: Scenario, agents: int = 2, on_start=None) -> Result:
    """Run one scenario against servers of ``kind`` ("editor", "socketio" or "ws").

    ``on_start`` is called once every client is connected, just before the
    typing starts (to start measuring the servers' CPU then).
    """
    context = multiprocessing.get_context("spawn")
    plan = [specs for specs in _assignments(scenario, urls, agents) if specs]
    barrier = context.Barrier(len(plan) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_agent_process, args=(kind, specs, scenario, barrier, results), daemon=True)
        for specs in plan
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=300)
    if on_start is not None:
        on_start()
    timeout = 120 + scenario.duration + scenario.drain
    reports = [results.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    members = {}
    for specs in plan:
        for _, room, _, _ in specs:
            members[room] = members.get(room, 0) + 1
    result = Result(scenario)
    for report in reports:
        result.connections += report["connections"]
        result.keystrokes += report["keystrokes"]
        result.received += report["received"]
        result.frames += report["frames"]
        result.errors += report["errors"]
        result.seconds = max(result.seconds, report["seconds"])
        result.latency.merge(Histogram.from_state(report["histogram"]))
        result.messages += report["sent"]
        for room, typed in report["typed_by_room"].items():
            result.expected += typed * (members[room] - 1)
    return result
