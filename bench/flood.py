"""One client flooding a document beside normal typists: what it does to them and to the worker.

    python -m bench.flood                                  # flood and flood-caret, about 80 s
    python -m bench.flood --scenarios flood                # edits only
    python -m bench.flood --scenarios flood,flood-caret,flood-garbage --clients 50
    python -m bench.flood --revision HEAD                  # the same bench against a committed
                                                           # revision (git archive, like bench.ab)
    python -m bench.compare --targets editor --scenarios flood   # through the usual entry point

The real topology of bench.compare (two ``editor.server`` workers on Redis and
a fresh PostgreSQL database, production settings), fresh for each scenario so
that the worker's memory starts from the same place. One document, ``clients``
normal tabs spread over the two workers round-robin, of which ``typists`` type
at ``rate`` keystrokes a second (bench.clients.EditorClient: one edit in flight,
what is typed meanwhile folded into the next, as the browser does). On the same
document and on worker 1, the worker of typists 1, 3 and 5, one flooder:

- ``flood``: valid edit frames (``{"type":"op","rev":R,"op":["x",L],"id":...}``,
  R and L the latest revision and length it has heard of, starting from its
  snapshot), every ``--garbage-every``-th frame a garbage-but-valid-JSON one;
- ``flood-caret``: caret frames (``{"type":"caret","rev":R,"caret":[c,c]}``),
  garbage mixed in the same way;
- ``flood-garbage``: garbage frames only.

The flooder writes frames as fast as it can without waiting for anything
(only TCP itself can slow it: a send waits when the kernel's buffer is full),
reads what the server answers meanwhile, and records every error frame by
code and the close code with its time. The run has three phases in one go:
``baseline`` (typists alone), ``flood`` (the flooder sending) and ``after``;
a keystroke belongs to the phase in which it was typed, and its deliveries
are counted until ``drain`` seconds after the last phase. The flooded
worker's RSS is sampled every 100 ms: before the flood, its peak, and
``after`` seconds (10 by default) after the flood ended.

The flooder, the typists and the workers share the machine's cores: the
flooder's own CPU is part of what the typists' latency shows, as it would
be for a flooder on the same host; the load average is printed with the
results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import websockets
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python twin
    from websockets.utils import apply_mask

from bench.clients import EditorClient
from bench.histogram import Histogram

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("baseline", "flood", "after")
FLOODED = 0  # index of the flooded worker in the target's URLs (shown as worker 1)
CONNECT_CONCURRENCY = 20

SCENARIOS = {
    "flood": "edits",
    "flood-caret": "carets",
    "flood-garbage": "garbage",
}

# Valid JSON the server must refuse, one of each kind of mistake (docs/protocol.md):
# not an object, no or unknown type, fields of the wrong type or out of range,
# operations that do not fit the document, too many components, deep nesting.
GARBAGE = [
    "{}",
    "[]",
    "null",
    "42",
    '"op"',
    "[1,2,3]",
    '{"type":"nonsense"}',
    '{"type":"op"}',
    '{"type":"op","rev":"x","op":"y","id":""}',
    '{"type":"op","rev":-1,"op":["x"],"id":"F-garbage-negative"}',
    '{"type":"op","rev":0,"op":[123456789,"x"],"id":"F-garbage-length"}',
    '{"type":"op","rev":9007199254740000,"op":["x"],"id":"F-garbage-future"}',
    '{"type":"op","rev":0,"op":[' + ",".join(["1"] * 1500) + '],"id":"F-garbage-long"}',
    '{"type":"op","rev":0,"op":[0,-0,""],"id":"F garbage spaces"}',
    '{"type":"caret","rev":-1,"caret":[5,1]}',
    '{"type":"caret","rev":0,"caret":"everywhere"}',
    '{"type":"fetch","rev":-3}',
    '{"type":"rename","name":""}',
    '{"type":"ping","extra":' + "[" * 64 + "]" * 64 + "}",
    '{"type":' + "[" * 200 + "]" * 200 + "}",
]


@dataclass(frozen=True)
class Plan:
    scenario: str  # a key of SCENARIOS
    clients: int = 20
    typists: int = 5
    rate: float = 10.0  # keystrokes a second per typist
    baseline: float = 5.0
    flood: float = 5.0
    after: float = 10.0
    drain: float = 3.0
    garbage_every: int = 10  # every n-th flood frame is garbage (0: none)
    agents: int = 2

    @property
    def mode(self) -> str:
        return SCENARIOS[self.scenario]

    @property
    def typing(self) -> float:
        return self.baseline + self.flood + self.after

    def phase(self, seconds: float) -> int:
        """The phase (index in PHASES) of a moment, in seconds since the start."""
        if seconds < self.baseline:
            return 0
        return 1 if seconds < self.baseline + self.flood else 2


def _worker_of(name: str) -> int:
    return int(name.rsplit("w", 1)[1])


# --- the normal tabs -------------------------------------------------------------------------


class Tab(EditorClient):
    """A tab of bench.clients, told apart by phase and author's worker, and robust to refusals.

    Its deliveries go to ``on_delivery(author, typed_ns, received_ns, keystrokes)``;
    the flooder's edits only move its revision and length along. An error
    about its edit in flight drops that edit (its keystrokes are lost, as
    counted) so that typing goes on.
    """

    def __init__(self, url, room, name, on_delivery, plan: Plan, start_ns: int) -> None:
        super().__init__(url, room, name, lambda *_: None)
        self.on_delivery = on_delivery
        self.plan = plan
        self.start_ns = start_ns
        self.typed = [0, 0, 0]  # keystrokes per phase, by when each was typed
        # Keystrokes per phase sent, by when the oldest of their frame was typed:
        # the receivers count deliveries that way too.
        self.sent_chars = [0, 0, 0]
        self.error_codes: Counter[str] = Counter()
        self.close_code: int | None = None

    async def connect(self) -> None:
        url = f"{self.url}/ws/docs/{self.room}/?name={quote(self.name)}"
        origin = self.url.replace("ws://", "http://", 1)
        # No keepalive pings: a server busy for seconds must not make the client give up.
        self.socket = await websockets.connect(
            url, origin=origin, max_size=2**24, compression=None, ping_interval=None, open_timeout=30
        )
        first = json.loads(await self.socket.recv())
        self.rev = first["rev"]
        self.length = len(first.get("text", ""))
        self.deltas = {}
        self.in_flight = None
        self.in_flight_chars = 0
        self.buffered = 0
        self.buffered_since = 0

    async def type(self) -> None:
        now = time.monotonic_ns()
        self.typed[self.plan.phase((now - self.start_ns) / 1e9)] += 1
        await super().type()

    async def _send(self, chars: int, typed_at: int) -> None:
        self.sent_chars[self.plan.phase((typed_at - self.start_ns) / 1e9)] += chars
        await super()._send(chars, typed_at)

    async def run(self) -> None:
        try:
            async for message in self.socket:
                await self.on_message(message)
        except websockets.ConnectionClosed:
            pass
        except Exception as error:
            self.error_codes[f"client exception {type(error).__name__}"] += 1
        self.close_code = self.socket.close_code

    async def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "op":
            now = time.monotonic_ns()
            op = frame["op"]
            inserted = sum(len(c) for c in op if isinstance(c, str))
            self.deltas[frame["rev"]] = inserted + sum(c for c in op if isinstance(c, int) and c < 0)
            self._advance()
            parts = str(frame.get("id", "")).split(":")
            if len(parts) == 3 and parts[0].startswith("t"):
                self.on_delivery(parts[0], int(parts[2]), now, inserted)
        elif kind == "error":
            self.errors += 1
            self.error_codes[str(frame.get("code"))] += 1
            if self.in_flight is not None and frame.get("id") == self.in_flight:
                self.in_flight = None
                if self.buffered:
                    chars, self.buffered = self.buffered, 0
                    await self._send(chars, self.buffered_since)
        else:
            await super()._on_frame(frame)


async def _tabs_main(specs, plan: Plan, barrier, start_queue, results) -> None:
    # (phase, author's worker) -> histogram of delivery latency in µs
    histograms: dict[tuple[int, int], Histogram] = {}
    received: Counter[tuple[int, int]] = Counter()
    start_ns = 0

    def on_delivery(author: str, typed_ns: int, received_ns: int, keystrokes: int) -> None:
        key = (plan.phase((typed_ns - start_ns) / 1e9), _worker_of(author))
        histograms.setdefault(key, Histogram()).add((received_ns - typed_ns) / 1000, keystrokes)
        received[key] += keystrokes

    tabs = [Tab(url, "flood-doc", name, on_delivery, plan, 0) for url, name, _ in specs]
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    failed: dict[str, str] = {}

    async def connect(tab) -> None:
        async with limit:
            try:
                await tab.connect()
            except Exception as error:
                failed[tab.name] = f"{tab.name}: {type(error).__name__}: {error}"

    await asyncio.gather(*(connect(tab) for tab in tabs))
    live = [tab for tab in tabs if tab.socket is not None and tab.name not in failed]
    readers = [asyncio.create_task(tab.run()) for tab in live]
    await asyncio.to_thread(barrier.wait)
    start_ns = await asyncio.to_thread(start_queue.get)
    for tab in tabs:
        tab.start_ns = start_ns
    loop = asyncio.get_running_loop()
    begin = loop.time() + (start_ns - time.monotonic_ns()) / 1e9
    interval = 1 / plan.rate
    typists = [tab for tab, spec in zip(tabs, specs, strict=True) if spec[2] and tab in live]

    async def type_steadily(tab, offset: float) -> None:
        keystroke = 0
        while (at := offset + keystroke * interval) < plan.typing:
            delay = begin + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if tab.close_code is not None:
                return
            try:
                await tab.type()
            except websockets.ConnectionClosed:
                return
            keystroke += 1

    index = {tab.name: i for i, tab in enumerate(typists)}
    await asyncio.gather(
        *(type_steadily(tab, interval * index[tab.name] / max(len(typists), 1)) for tab in typists)
    )
    await asyncio.sleep(max(0.0, begin + plan.typing + plan.drain - loop.time()))
    report = {
        "connected": len(live),
        "failed": list(failed.values()),
        "typed": {tab.name: tab.typed for tab in tabs},
        "sent_chars": {tab.name: tab.sent_chars for tab in tabs},
        "sent": sum(tab.sent for tab in tabs),
        "received": {f"{p},{w}": n for (p, w), n in received.items()},
        "histograms": {f"{p},{w}": h.state() for (p, w), h in histograms.items()},
        "errors": dict(sum((tab.error_codes for tab in tabs), Counter())),
        "closed": dict(Counter(str(tab.close_code) for tab in tabs if tab.close_code is not None)),
    }
    for tab in live:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(tab.close(), 2)
    for reader in readers:
        reader.cancel()
    results.put(("tabs", report))


def _tabs_process(specs, plan, barrier, start_queue, results) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        asyncio.run(_tabs_main(specs, plan, barrier, start_queue, results))
    except BaseException:
        results.put(("tabs", {"crashed": traceback.format_exc()}))


# --- the flooder -----------------------------------------------------------------------------


class Flooder:
    """A client that connects, takes the snapshot's revision, then writes frames as fast as it can."""

    def __init__(self, url: str, plan: Plan) -> None:
        self.url = url
        self.plan = plan
        self.token = secrets.token_hex(4)
        self.sent: Counter[str] = Counter()  # frames written, by kind
        self.received: Counter[str] = Counter()  # frames read, by type
        self.error_codes: Counter[str] = Counter()
        self.retry_after_ms: list[int] = []
        self.first_error_at: dict[str, float] = {}  # code -> seconds after the flood began
        self.first_frame_rev: int | None = None
        self.rev = 0
        self.length = 0
        self.deltas: dict[int, int] = {}
        self.flood_start = 0.0  # time.monotonic()
        self.sending_seconds = 0.0
        self.longest_send = 0.0  # a send waits only when TCP pushes back
        self.blocked_seconds = 0.0
        self.cpu_seconds = 0.0  # the flooder's own CPU while flooding (it shares the machine)
        self.mask = b"\0\0\0\0"
        self.blocked_at_end = False
        self._sending_since: float | None = None
        self.last_received_at: float | None = None
        self.last_ack_at: float | None = None
        self.close_frame: dict | None = None  # the server's close frame: code, reason, when
        self.ended: dict | None = None  # when and how the connection itself ended
        self.bench_closing = False  # the run is over and the bench closes the connection
        self.notes: list[str] = []
        self.socket = None

    def _since(self) -> float:
        return round(time.monotonic() - self.flood_start, 3)

    async def connect(self) -> None:
        url = f"{self.url}/ws/docs/flood-doc/?name=flooder"
        origin = self.url.replace("ws://", "http://", 1)
        self.socket = await websockets.connect(
            url, origin=origin, max_size=2**24, compression=None, ping_interval=None, open_timeout=30
        )
        first = json.loads(await self.socket.recv())
        self.received[first.get("type", "?")] += 1
        if first.get("type") not in ("snapshot", "resume"):
            self.notes.append(f"first frame: {json.dumps(first)[:200]}")
        self.flood_start = time.monotonic()  # until the flood begins
        self.rev = self.first_frame_rev = int(first.get("rev", 0))
        self.length = len(first.get("text", ""))

    def _advance(self) -> None:
        while self.rev + 1 in self.deltas:
            self.rev += 1
            self.length += self.deltas.pop(self.rev)

    def _on_frame(self, frame) -> None:
        kind = frame.get("type", "?") if isinstance(frame, dict) else "?"
        self.received[kind] += 1
        if kind == "batch":
            for inner in frame.get("frames", []):
                self._on_frame(inner)
        elif kind == "op":
            op = frame["op"]
            inserted = sum(len(c) for c in op if isinstance(c, str))
            self.deltas[frame["rev"]] = inserted + sum(c for c in op if isinstance(c, int) and c < 0)
            self._advance()
        elif kind == "ack":
            self.last_ack_at = self._since()
            if str(frame.get("id", "")).startswith(f"F{self.token}"):
                self.deltas[frame["rev"]] = 1  # each of its edits inserts one character
                self._advance()
        elif kind == "error":
            code = str(frame.get("code"))
            self.error_codes[code] += 1
            self.first_error_at.setdefault(code, self._since())
            if "retry_after" in frame:
                self.retry_after_ms.append(frame["retry_after"])

    async def read(self) -> None:
        """Read until the socket closes; record how it closed."""
        try:
            async for message in self.socket:
                self.last_received_at = self._since()
                try:
                    self._on_frame(json.loads(message))
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.received["unreadable"] += 1
        except websockets.ConnectionClosed:
            pass
        except Exception as error:
            self.notes.append(f"reader: {type(error).__name__}: {error}")
        self._ended()

    def _check_close(self) -> bool:
        """Record the server's close frame once it has come; True if it has."""
        if self.bench_closing:
            return True  # what comes now answers the bench's own close
        if self.close_frame is None and (rcvd := self.socket.protocol.close_rcvd) is not None:
            self.close_frame = {"code": rcvd.code, "reason": rcvd.reason, "at_s": self._since()}
        return self.close_frame is not None

    def _ended(self) -> None:
        self._check_close()
        if self.ended is None and not self.bench_closing:
            self.ended = {"at_s": self._since(), "code": self.socket.close_code}

    @property
    def closing(self) -> bool:
        return self.ended is not None or self._check_close()

    async def watch(self) -> None:
        """Notice the server's close frame within 10 ms (the reader sees no message for it)."""
        while not self.closing:  # noqa: ASYNC110 - websockets offers no event for a close frame
            await asyncio.sleep(0.01)

    def _frame(self, n: int) -> tuple[str, str]:
        every = self.plan.garbage_every
        mode = self.plan.mode
        if mode == "garbage" or (every and n % every == every - 1):
            return "garbage", GARBAGE[n % len(GARBAGE)]
        if mode == "edits":
            op = f'["x",{self.length}]' if self.length else '["x"]'
            return "edit", f'{{"type":"op","rev":{self.rev},"op":{op},"id":"F{self.token}-{n}"}}'
        caret = n % (self.length + 1)
        return "caret", f'{{"type":"caret","rev":{self.rev},"caret":[{caret},{caret}]}}'

    def _wire(self, text: str) -> bytes:
        """One masked text frame, as a client must send it (RFC 6455 5.2)."""
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = bytes((0x81, 0x80 | size))
        elif size < 2**16:
            header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
        return header + self.mask + apply_mask(payload, self.mask)

    async def flood(self, seconds: float) -> None:
        """Write frames for ``seconds``, never waiting for an answer; stop early if closed.

        Frames go straight to the TCP transport (the websockets connection
        only did the handshake and reads the answers): Python's WebSocket
        client would otherwise be the bottleneck. The only wait is TCP's own
        flow control, when the kernel's and the transport's buffers are full.
        """
        loop = asyncio.get_running_loop()
        cpu_before = time.process_time()
        self.mask = secrets.token_bytes(4)
        socket = self.socket
        transport = socket.transport
        n = 0
        try:
            async with asyncio.timeout(seconds):
                while not self.closing and socket.state is State.OPEN:
                    kind, text = self._frame(n)
                    transport.write(self._wire(text))
                    self.sent[kind] += 1
                    n += 1
                    if socket.paused:  # over the transport's high-water mark: TCP pushes back
                        self._sending_since = before = loop.time()
                        await socket.drain()
                        self._sending_since = None
                        took = loop.time() - before
                        self.blocked_seconds += took
                        self.longest_send = max(self.longest_send, took)
                    elif n % 64 == 0:
                        await asyncio.sleep(0)  # let the reader take the answers (and the revision)
        except TimeoutError:
            since = self._sending_since
            if since is not None:
                self.blocked_at_end = True
                took = loop.time() - since
                self.blocked_seconds += took
                self.longest_send = max(self.longest_send, took)
        except (websockets.ConnectionClosed, ConnectionError):
            self._ended()
        except Exception as error:
            self.notes.append(f"sender: {type(error).__name__}: {error}")
        self._check_close()
        self.sending_seconds = time.monotonic() - self.flood_start
        self.cpu_seconds = time.process_time() - cpu_before

    def report(self) -> dict:
        return {
            "sent": dict(self.sent),
            "sent_total": sum(self.sent.values()),
            "sending_seconds": round(self.sending_seconds, 3),
            "longest_send_s": round(self.longest_send, 3),
            "blocked_s": round(self.blocked_seconds, 3),
            "cpu_s": round(self.cpu_seconds, 2),
            "blocked_at_end": self.blocked_at_end,
            "received": dict(self.received),
            "errors": dict(self.error_codes),
            "first_error_at_s": self.first_error_at,
            "retry_after_ms": (
                [min(self.retry_after_ms), max(self.retry_after_ms)] if self.retry_after_ms else None
            ),
            "last_received_at_s": self.last_received_at,
            "last_ack_at_s": self.last_ack_at,
            "close_frame": self.close_frame,
            "ended": self.ended,
            "notes": self.notes,
        }


async def _flooder_main(url, plan: Plan, barrier, start_queue, results) -> None:
    flooder = Flooder(url, plan)
    try:
        await flooder.connect()
    except Exception as error:
        flooder.notes.append(f"connect: {type(error).__name__}: {error}")
    reader = asyncio.create_task(flooder.read()) if flooder.socket is not None else None
    watcher = asyncio.create_task(flooder.watch()) if flooder.socket is not None else None
    await asyncio.to_thread(barrier.wait)
    start_ns = await asyncio.to_thread(start_queue.get)
    start = start_ns / 1e9 + plan.baseline  # on time.monotonic()'s clock, shared by the processes
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    flooder.flood_start = time.monotonic()
    if reader is not None and not flooder.closing:
        await flooder.flood(plan.flood)
    # Stay connected and keep reading (the server may still be working through the flood).
    end = start_ns / 1e9 + plan.typing + plan.drain
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    if reader is not None:
        flooder._check_close()
        if flooder.ended is None:
            flooder.notes.append(
                f"the connection was still open at the end ({flooder._since():.1f} s); closed by the bench"
            )
        flooder.bench_closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(flooder.socket.close(), 2)
        reader.cancel()
        watcher.cancel()
    results.put(("flooder", flooder.report()))


def _flooder_process(url, plan, barrier, start_queue, results) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        asyncio.run(_flooder_main(url, plan, barrier, start_queue, results))
    except BaseException:
        results.put(("flooder", {"crashed": traceback.format_exc()}))


# --- the coordinator -------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Each worker's RSS and CPU seconds every 100 ms: (seconds since start, [(rss, cpu), ...])."""

    def __init__(self, processes: list[psutil.Process], start: float) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.start_at = start
        self.samples: list[tuple[float, list[tuple[float, float]]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            row = []
            for process in self.processes:
                try:
                    times = process.cpu_times()
                    row.append((process.memory_info().rss / 2**20, times.user + times.system))
                except psutil.Error:
                    row.append((float("nan"), float("nan")))
            self.samples.append((time.monotonic() - self.start_at, row))
            self.stop.wait(0.1)

    def at(self, seconds: float, worker: int) -> tuple[float, float]:
        """The sample nearest to ``seconds``."""
        return min(self.samples, key=lambda sample: abs(sample[0] - seconds))[1][worker]

    def peak(self, begin: float, end: float, worker: int) -> tuple[float, float]:
        """Highest RSS in [begin, end] and when."""
        inside = [(row[worker][0], t) for t, row in self.samples if begin <= t <= end]
        return max(inside) if inside else (float("nan"), float("nan"))


def _specs(plan: Plan, urls: list[str]) -> list[tuple[str, str, bool]]:
    """(url, name, is_typist) for every tab, round-robin over the workers; names carry the worker."""
    specs = []
    for i in range(plan.clients):
        worker = i % len(urls)
        typist = i < plan.typists
        specs.append((urls[worker], f"{'t' if typist else 'r'}{i}w{worker}", typist))
    return specs


def run(plan: Plan, target) -> dict:
    """One scenario against a running editor target (bench.targets.editor)."""
    context = multiprocessing.get_context("spawn")
    specs = _specs(plan, target.urls)
    shares = [specs[i :: plan.agents] for i in range(plan.agents)]
    shares = [share for share in shares if share]
    barrier = context.Barrier(len(shares) + 2)
    start_queues = [context.Queue() for _ in range(len(shares) + 1)]
    results = context.Queue()
    processes = [
        context.Process(target=_tabs_process, args=(share, plan, barrier, queue, results), daemon=True)
        for share, queue in zip(shares, start_queues, strict=False)
    ]
    processes.append(
        context.Process(
            target=_flooder_process,
            args=(target.urls[FLOODED], plan, barrier, start_queues[-1], results),
            daemon=True,
        )
    )
    for process in processes:
        process.start()
    barrier.wait(timeout=300)
    start_ns = time.monotonic_ns() + 300_000_000
    start = start_ns / 1e9
    sampler = Sampler(target.processes, start)
    sampler.start()
    load_before = os.getloadavg()
    for queue in start_queues:
        queue.put(start_ns)
    reports: dict[str, list[dict]] = {"tabs": [], "flooder": []}
    deadline = time.monotonic() + 120 + plan.typing + plan.drain
    for _ in processes:
        try:
            kind, report = results.get(timeout=max(1.0, deadline - time.monotonic()))
        except Exception:
            break
        reports[kind].append(report)
    load_after = os.getloadavg()
    sampler.stop.set()
    sampler.join()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    return _summarise(plan, target, specs, reports, sampler, load_before, load_after)


def _log_problems(lines: list[str]) -> tuple[list[str], list[str]]:
    """Each ERROR line with the exception that ended its traceback; the WARNING lines."""
    errors, warnings = [], []
    for i, line in enumerate(lines):
        if "WARNING" in line:
            warnings.append(line)
        elif "ERROR" in line or line.startswith("Traceback"):
            if line.startswith("Traceback") and errors and i and "ERROR" in lines[i - 1]:
                continue  # the traceback of the ERROR line just before
            end = next(
                (
                    later
                    for later in lines[i + 1 :]
                    if later and not later[0].isspace() and "Traceback" not in later
                ),
                "",
            )
            errors.append(f"{line} -> {end}" if end else line)
    return errors, warnings


def _summarise(plan, target, specs, reports, sampler, load_before, load_after) -> dict:
    crashed = [r["crashed"] for kind in reports.values() for r in kind if "crashed" in r]
    tabs = [r for r in reports["tabs"] if "crashed" not in r]
    members = sum(r["connected"] for r in tabs)  # normal tabs; the flooder is not owed deliveries
    histograms: dict[tuple[int, str], Histogram] = {}
    owed: Counter[tuple[int, str]] = Counter()
    typed: Counter[tuple[int, str]] = Counter()
    unsent = 0  # typed, but still waiting for the edit in flight when the run ended
    got: Counter[tuple[int, str]] = Counter()
    for report in tabs:
        for key, state in report["histograms"].items():
            phase, worker = (int(x) for x in key.split(","))
            for group in ("all", f"w{worker}"):
                histograms.setdefault((phase, group), Histogram()).merge(Histogram.from_state(state))
        for key, n in report["received"].items():
            phase, worker = (int(x) for x in key.split(","))
            got[(phase, "all")] += n
            got[(phase, f"w{worker}")] += n
        for name, sent in report["sent_chars"].items():
            unsent += sum(report["typed"][name]) - sum(sent)
            for phase, n in enumerate(sent):
                for group in ("all", f"w{_worker_of(name)}"):
                    owed[(phase, group)] += n * (members - 1)
                    typed[(phase, group)] += report["typed"][name][phase]
    latency = []
    for phase, phase_name in enumerate(PHASES):
        for group in ("all", f"w{FLOODED}", *(f"w{w}" for w in range(len(target.urls)) if w != FLOODED)):
            histogram = histograms.get((phase, group), Histogram())
            latency.append(
                {
                    "phase": phase_name,
                    "authors": group,
                    "p50_ms": histogram.percentile(0.5) / 1000,
                    "p90_ms": histogram.percentile(0.9) / 1000,
                    "p99_ms": histogram.percentile(0.99) / 1000,
                    "max_ms": histogram.max_us / 1000,
                    "delivered": got[(phase, group)],
                    "owed": owed[(phase, group)],
                    "typed": typed[(phase, group)],
                }
            )
    flood_begin, flood_end = plan.baseline, plan.baseline + plan.flood
    memory = []
    for worker in range(len(target.processes)):
        before_rss, before_cpu = sampler.at(flood_begin - 0.05, worker)
        peak_rss, peak_at = sampler.peak(flood_begin, plan.typing + plan.drain, worker)
        after_rss, _ = sampler.at(flood_end + plan.after, worker)
        _, flood_end_cpu = sampler.at(flood_end, worker)
        _, end_cpu = sampler.at(plan.typing, worker)
        start_rss, start_cpu = sampler.at(0, worker)
        memory.append(
            {
                "worker": worker + 1,
                "flooded": worker == FLOODED,
                "rss_start_mb": start_rss,
                "rss_before_mb": before_rss,
                "rss_peak_mb": peak_rss,
                "rss_peak_at_s": peak_at - flood_begin,  # after the flood began
                "rss_after_mb": after_rss,
                "cpu_baseline_s": before_cpu - start_cpu,
                "cpu_flood_s": flood_end_cpu - before_cpu,
                "cpu_after_s": end_cpu - flood_end_cpu,
            }
        )
    logs, warnings = [], []
    for path in target.extra.get("logs", []):
        if Path(path).exists():
            errors, found = _log_problems(Path(path).read_text().splitlines())
            logs += errors
            warnings += found
    return {
        "plan": asdict(plan),
        "mode": plan.mode,
        "connected": sum(r["connected"] for r in tabs),
        "connect_failed": [f for r in tabs for f in r["failed"]][:5],
        "typists_sent": sum(r["sent"] for r in tabs),
        "typists_unsent_keystrokes": unsent,
        "tab_errors": dict(sum((Counter(r["errors"]) for r in tabs), Counter())),
        "tabs_closed": dict(sum((Counter(r["closed"]) for r in tabs), Counter())),
        "latency": latency,
        "flooder": reports["flooder"][0] if reports["flooder"] else {"missing": True},
        "memory": memory,
        "worker_errors": len(logs),
        "worker_error_lines": logs[:5],
        "worker_warnings": len(warnings),
        "worker_warning_lines": list(dict.fromkeys(w.split(" ", 3)[-1][:160] for w in warnings))[:5],
        "load_before": load_before,
        "load_after": load_after,
        "crashed": crashed,
    }


# --- tables ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "n/a" if value != value else f"{value:.1f}"


def _flooder_cells(f: dict) -> tuple[str, str, str]:
    if "crashed" in f or f.get("missing"):
        return "(flooder process failed)", "", ""
    sent = ", ".join(f"{n} {kind}" for kind, n in sorted(f["sent"].items()))
    rate = f["sent_total"] / f["sending_seconds"] if f["sending_seconds"] else 0
    errors = ", ".join(f"{code} {n}" for code, n in sorted(f["errors"].items())) or "none"
    if f["retry_after_ms"]:
        errors += f" (retry_after {f['retry_after_ms'][0]}-{f['retry_after_ms'][1]} ms)"
    frame, ended = f["close_frame"], f["ended"]
    if frame is None:
        closed = "no close frame from the server"
    else:
        closed = f"close frame {frame['code']} at {frame['at_s']:.2f} s"
        closed += f" (reason {frame['reason']!r})" if frame["reason"] else ""
    if ended is None:
        closed += "; the connection stayed open until the bench closed it"
    else:
        closed += f"; the connection ended at {ended['at_s']:.2f} s (close code {ended['code']})"
    sent_cell = (
        f"{f['sent_total']} in {f['sending_seconds']:.1f} s ({rate:.0f}/s): {sent}; "
        f"waiting for TCP {f.get('blocked_s', 0):.2f} s in all, longest {f['longest_send_s'] * 1000:.0f} ms; "
        f"the flooder's CPU {f.get('cpu_s', 0):.1f} s"
        + (
            "; a send was still waiting (TCP pushing back) when the flood ended"
            if f["blocked_at_end"]
            else ""
        )
    )
    return sent_cell, errors, closed


def summary(results: list[dict], label: str = "") -> str:
    """One row per scenario: the typists on the flooded worker in each phase, the flooder, memory."""
    lines = [
        f"#### flood{' (' + label + ')' if label else ''}: typists on the flooded worker "
        "(all typists), p50 / p99 ms; the flooder; the flooded worker's RSS",
        "",
        "| scenario | baseline | during the flood | after it | flooder: frames sent | error frames by code "
        "| closed | RSS before / peak / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        cells = []
        for phase in PHASES:
            rows = {row["authors"]: row for row in result["latency"] if row["phase"] == phase}
            here, every = rows[f"w{FLOODED}"], rows["all"]
            cells.append(
                f"{_ms(here['p50_ms'])} / {_ms(here['p99_ms'])} "
                f"({_ms(every['p50_ms'])} / {_ms(every['p99_ms'])})"
            )
        f = result["flooder"]
        if "sent" in f:
            rate = f["sent_total"] / f["sending_seconds"] if f["sending_seconds"] else 0
            sent = f"{f['sent_total']} ({rate:.0f}/s)"
            errors = ", ".join(f"{code} {n}" for code, n in sorted(f["errors"].items())) or "none"
            frame, ended = f["close_frame"], f["ended"]
            if frame is not None:
                closed = f"{frame['code']} at {frame['at_s']:.1f} s"
                closed += "" if ended is not None else " (TCP left open)"
            elif ended is not None:
                closed = f"{ended['code']} (no close frame) at {ended['at_s']:.1f} s"
            else:
                closed = "no"
        else:
            sent, errors, closed = "(flooder failed)", "", ""
        m = next(m for m in result["memory"] if m["flooded"])
        lines.append(
            f"| {result['plan']['scenario']} | {' | '.join(cells)} | {sent} | {errors} | {closed} "
            f"| {m['rss_before_mb']:.0f} / {m['rss_peak_mb']:.0f} / {m['rss_after_mb']:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def tables(results: list[dict], label: str = "") -> str:
    lines = [summary(results, label)]
    for result in results:
        plan = result["plan"]
        title = (
            f"#### {plan['scenario']}{' (' + label + ')' if label else ''}: 1 document, "
            f"{plan['clients']} tabs on 2 workers, {plan['typists']} typists at {plan['rate']:g}/s; "
            f"flooder ({result['mode']}"
            + (
                f", 1 in {plan['garbage_every']} garbage"
                if plan["garbage_every"] and result["mode"] != "garbage"
                else ""
            )
            + f") on worker {FLOODED + 1} for {plan['flood']:g} s after {plan['baseline']:g} s"
        )
        lines += [title, ""]
        lines += [
            "| phase | typists | keystrokes | p50 ms | p90 ms | p99 ms | max ms | delivered / owed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in result["latency"]:
            who = "all" if row["authors"] == "all" else f"on worker {int(row['authors'][1:]) + 1}"
            if row["authors"] == f"w{FLOODED}":
                who += " (flooded)"
            lines.append(
                f"| {row['phase']} | {who} | {row['typed']} | {_ms(row['p50_ms'])} | {_ms(row['p90_ms'])} "
                f"| {_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | {row['delivered']} / {row['owed']} |"
            )
        lines.append("")
        sent, errors, closed = _flooder_cells(result["flooder"])
        f = result["flooder"]
        lines += [
            "| flooder | |",
            "|---|---|",
            f"| frames sent | {sent} |",
            f"| error frames received, by code | {errors} |",
            f"| close | {closed} |",
        ]
        if "received" in f:
            received = ", ".join(f"{k} {n}" for k, n in sorted(f["received"].items()))
            last_ack = "no ack" if f["last_ack_at_s"] is None else f"last ack at {f['last_ack_at_s']} s"
            lines.append(
                f"| frames received | {received}; last frame at {f['last_received_at_s']} s, "
                f"{last_ack} after the flood began |"
            )
        if f.get("notes"):
            lines.append(f"| notes | {'; '.join(f['notes'])} |")
        lines.append("")
        lines += [
            f"| worker | RSS at start | before the flood | peak (s after the flood began) "
            f"| {plan['after']:g} s after the flood | CPU s: baseline / flood / after |",
            "|---|---|---|---|---|---|",
        ]
        for m in result["memory"]:
            lines.append(
                f"| {m['worker']}{' (flooded)' if m['flooded'] else ''} | {m['rss_start_mb']:.0f} MB "
                f"| {m['rss_before_mb']:.0f} MB | {m['rss_peak_mb']:.0f} MB ({m['rss_peak_at_s']:.1f} s) "
                f"| {m['rss_after_mb']:.0f} MB "
                f"| {m['cpu_baseline_s']:.1f} / {m['cpu_flood_s']:.1f} / {m['cpu_after_s']:.1f} |"
            )
        lines.append("")
        extra = [
            f"load average {result['load_before'][0]:.2f} before, {result['load_after'][0]:.2f} after",
            f"tabs connected {result['connected']}/{plan['clients']}",
            f"typists' error frames: {result['tab_errors'] or 'none'}",
            f"keystrokes typed but not sent by the end: {result['typists_unsent_keystrokes']}",
            f"tabs closed by the server: {result['tabs_closed'] or 'none'}",
            f"worker log: {result['worker_errors']} error lines, {result['worker_warnings']} warnings",
        ]
        lines.append("; ".join(extra) + ".")
        for line in result["worker_warning_lines"] + result["worker_error_lines"]:
            lines.append(f"    {line}")
        for crash in result["crashed"]:
            lines.append("    crashed: " + crash.strip().splitlines()[-1])
        lines.append("")
    return "\n".join(lines) + "\n"


# --- entry points ----------------------------------------------------------------------------


def run_scenarios(names: list[str], base: Plan) -> list[dict]:
    """Each scenario on fresh workers (bench.targets.editor), one after another."""
    from bench import targets

    targets.DATABASE = "realtime_bench_flood"  # not the database a bench.compare may be using
    results = []
    for name in names:
        plan = Plan(**{**asdict(base), "scenario": name})
        with targets.editor(2) as target:
            print(f"== {name}: {target.name}", flush=True)
            result = run(plan, target)
        results.append(result)
        for row in result["latency"]:
            if row["authors"] == "all":
                print(
                    f"  {row['phase']:8s} p50 {_ms(row['p50_ms']):>7} p99 {_ms(row['p99_ms']):>8} ms, "
                    f"delivered {row['delivered']}/{row['owed']}",
                    flush=True,
                )
    return results


def _in_revision(revision: str, argv: list[str]) -> int:
    """Run this bench (this checkout's bench/) against a committed revision's editor."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    try:
        tree = workdir / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        for path in (ROOT / "bench").glob("*.py"):
            shutil.copy2(path, tree / "bench" / path.name)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", revision], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()
        command = [sys.executable, "-m", "bench.flood", *argv, "--label", f"{revision} = {commit}"]
        command += ["--results", str(RESULTS)]
        return subprocess.run(command, cwd=tree).returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="flood,flood-caret", help=",".join(SCENARIOS))
    parser.add_argument("--clients", type=int, default=Plan.clients, help="normal tabs on the document")
    parser.add_argument("--typists", type=int, default=Plan.typists)
    parser.add_argument("--rate", type=float, default=Plan.rate, help="keystrokes a second per typist")
    parser.add_argument("--baseline", type=float, default=Plan.baseline, help="seconds before the flood")
    parser.add_argument("--flood", type=float, default=Plan.flood, help="seconds of flooding")
    parser.add_argument("--after", type=float, default=Plan.after, help="seconds after the flood")
    parser.add_argument("--garbage-every", type=int, default=Plan.garbage_every)
    parser.add_argument("--revision", help="run against this committed revision (git archive)")
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    parser.add_argument("--results", default=str(RESULTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.revision:
        argv = sys.argv[1:]
        i = argv.index("--revision")
        del argv[i : i + 2]
        sys.exit(_in_revision(args.revision, argv))
    names = args.scenarios.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    base = Plan(
        scenario=names[0],
        clients=args.clients,
        typists=args.typists,
        rate=args.rate,
        baseline=args.baseline,
        flood=args.flood,
        after=args.after,
        garbage_every=args.garbage_every,
    )
    results = run_scenarios(names, base)
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    label = args.label or "working tree"
    command = " ".join(["python -m bench.flood", *sys.argv[1:]])
    text = f"Measured {date} on {psutil.cpu_count()} cores with `{command}` ({label}).\n\n" + tables(
        results, label
    )
    print()
    print(text)
    out = Path(args.results)
    out.mkdir(exist_ok=True)
    stamp = "flood-" + date.replace(":", "")
    (out / f"{stamp}.json").write_text(
        json.dumps({"date": date, "label": label, "results": results}, indent=2)
    )
    (out / f"{stamp}.md").write_text(text)
    print(f"written: {out}/{stamp}.json and .md", flush=True)


if __name__ == "__main__":
    main()
