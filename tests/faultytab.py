"""A browser tab over a real WebSocket with a fault layer between the socket and its client.

``FaultyTab`` is LiveTab's behaviour (tests/livetab.py: answer frames, fetch
gaps that stay open, reconnect and resume) around ``editor.ot.client.ProtocolClient``,
plus the faults of the model runs in tests/ot/test_simulation.py, injected only
where the real system allows them:

- broadcasts (``op`` frames of another session, relayed through the channel
  layer) are held back for a moment, so that later frames and our own acks
  overtake them, or lost (Redis pub/sub does not retry);
- frames of our own consumer (first frame, catch-up after a resume, acks,
  snapshots, errors, pongs) are never held back or lost: one TCP stream from
  one consumer keeps them in order. An ``op`` frame for a revision this
  connection has already seen, or one at or before the connection's first
  revision, is such a catch-up frame (the answer to a fetch or a resume). The
  answer to a fetch for a revision not seen yet cannot be told from its
  broadcast and may be held back or lost too: harsher than the network, and
  survived the same way;
- the socket drops (often right after an edit was sent, so that its ack is
  lost) and the tab reconnects at once, maybe to another worker, resuming with
  its pending edit.

Several tabs share a ``Scene``: one place to wait on (woken by every frame any
tab handles, like LiveTab.wait_for), the recovery paths taken, and what every
tab was told about each revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import websockets

from editor import ot
from editor.ot.client import ProtocolClient

GAP_TIMEOUT = 0.5  # the browser's: a gap still open after half a second is fetched


def kept_characters(op: ot.Operation) -> str:
    """The characters an operation inserts, less the filler dots (see Keystrokes)."""
    return "".join(part.replace(".", "") for part in op if isinstance(part, str))


class Scene:
    """What several tabs share: a condition to wait on, the paths taken, what was told about revisions."""

    def __init__(self) -> None:
        self.paths: Counter = Counter()
        self.revisions: dict[int, set[str]] = {}  # revision -> ids of the edits said to have made it
        self.revisions_of: dict[str, set[int]] = {}  # op id -> revisions it was said to have
        self.failures: list[BaseException] = []  # of the tabs' background tasks
        self._waiters: list[asyncio.Future] = []

    def changed(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def told(self, rev: int, op_id: str) -> None:
        """A tab was told that the edit ``op_id`` made revision ``rev`` (an op frame or an ack)."""
        self.revisions.setdefault(rev, set()).add(op_id)
        self.revisions_of.setdefault(op_id, set()).add(rev)

    async def wait_for(
        self, predicate: Callable[[], bool], *, what: str, within: float = 15, state: Callable[[], str] = str
    ) -> None:
        """Wait until ``predicate`` holds, woken by every frame any tab handles."""
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    if self.failures:
                        raise self.failures[0]
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
                    await waiter
        except TimeoutError:
            raise TimeoutError(f"timed out after {within} s waiting for {what}; {state()}") from None


@dataclass
class Faults:
    """Probabilities of the faults, per frame or per edit sent; ``on`` switches them all."""

    on: bool = True
    hold: float = 0.0  # a broadcast is held back (up to max_hold seconds), later frames overtake it
    lose: float = 0.0  # a broadcast is lost
    drop_after_send: float = 0.0  # the socket drops right after an edit went out; we come back at once
    max_hold: float = 0.08


class FaultyTab:
    def __init__(
        self,
        scene: Scene,
        server_urls: list[str],
        slug: str,
        name: str,
        *,
        rng: random.Random | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.scene = scene
        self.server_urls = server_urls  # ws://host:port of the workers it may reconnect to
        self.server_url = server_urls[0]
        self.slug = slug
        self.name = name
        self.rng = rng or random.Random(name)
        self.faults = faults or Faults(on=False)
        self.client = ProtocolClient(id_prefix=name)
        self.paths = scene.paths
        self.socket: websockets.ClientConnection | None = None
        self.sent: dict[str, str] = {}  # op id -> kept characters of that edit, for every edit sent
        self.ack_revs: dict[str, int] = {}  # op id -> revision of its ack, from ack frames
        self.errors: list[dict] = []
        self.first_frames: list[str] = []  # each connection's first frame type: snapshot or resume
        self.unvouched: list[str] = []  # kept characters of sent edits a snapshot could not vouch for
        self.trace: deque[str] = deque(maxlen=60)  # the latest frames, for failure messages
        self.on_frame: Callable[[dict], None] | None = None  # called after the client handled a frame
        self.frozen = False  # frames that arrive are kept unread (dropped with the socket)
        self.gap_timeout = GAP_TIMEOUT  # longer: a background tab, whose timers the browser throttles
        self.written = 0  # frames handed to the socket
        self._generation = 0  # one per connection: what a dropped connection left behind is ignored
        self._outbox: asyncio.Queue | None = None
        self._held: list[dict] = []
        self._seen: set[int] = set()  # revisions of the op frames this connection received
        self._first_rev: int | None = None  # revision of this connection's first frame
        self._gap_timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # State

    @property
    def text(self) -> str:
        return self.client.text

    @property
    def connected(self) -> bool:
        return self.socket is not None and self.client.live

    @property
    def settled(self) -> bool:
        """Connected, every edit acknowledged, no revision known to be missing."""
        return self.connected and self.client.state == "synchronised" and not self.client.has_gap

    @property
    def reconnecting(self) -> bool:
        return self._connecting is not None and not self._connecting.done()

    def describe(self) -> str:
        client = self.client
        return (
            f"{self.name}: rev={client.rev} state={client.state} live={client.live} gap={client.has_gap}"
            f" early={sorted(client.early)} known_head={client.known_head} url={self.server_url}"
        )

    # Connections

    async def connect(self, server_url: str | None = None) -> None:
        """Connect (or reconnect, resuming) and wait until the first frame was handled."""
        self.reconnect(server_url)
        await self._connecting

    def reconnect(self, server_url: str | None = None) -> None:
        """Drop the socket (if any) and connect again in the background, resuming."""
        self.drop()
        if server_url is not None:
            self.server_url = server_url
        if not self.reconnecting:
            self._connecting = self._spawn(self._connect_until_live())

    def drop(self) -> None:
        """Lose the connection now: frames in flight both ways are gone, like the network's."""
        self._generation += 1
        socket, self.socket = self.socket, None
        if self._outbox is not None:
            self._outbox.put_nowait(None)  # ends the writer
            self._outbox = None
        self._held.clear()
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        self.client.disconnected()
        if socket is not None:
            socket.transport.abort()
        self.scene.changed()

    async def _connect_until_live(self) -> None:
        while not self.connected:
            generation = self._generation
            url = f"{self.server_url}/ws/docs/{self.slug}/{self.client.resume_query()}"
            origin = self.server_url.replace("ws://", "http://")
            socket = await websockets.connect(url, origin=origin, max_size=2**22, open_timeout=10)
            if generation != self._generation:  # dropped while the handshake went on
                socket.transport.abort()
                continue
            self.socket = socket
            self._outbox = asyncio.Queue()
            self._seen = set()
            self._first_rev = None
            self._spawn(self._read(socket, generation))
            self._spawn(self._write(socket, generation, self._outbox))
            await self.scene.wait_for(
                lambda generation=generation: self.client.live or generation != self._generation,
                what=f"{self.name}'s first frame",
                state=self.describe,
            )

    async def _read(self, socket: websockets.ClientConnection, generation: int) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in socket:
                if generation != self._generation:
                    return
                self._arrive(json.loads(message), generation)
        if generation == self._generation:  # the server (or its process) went away
            self.paths["socket closed by the server"] += 1
            self.drop()

    async def _write(self, socket: websockets.ClientConnection, generation: int, outbox: asyncio.Queue):
        while (frame := await outbox.get()) is not None:
            try:
                await socket.send(json.dumps(frame))
            except websockets.ConnectionClosed:
                return
            self.written += 1
            self.scene.changed()
            if (
                frame["type"] == "op"
                and self.faults.on
                and self.rng.random() < self.faults.drop_after_send
                and generation == self._generation
            ):
                delay = self.rng.uniform(0, 0.01)
                self._later(delay, self._drop_in_flight, generation)

    def _drop_in_flight(self, generation: int) -> None:
        if generation == self._generation and self.faults.on:
            self.paths["socket dropped with an edit in flight"] += 1
            self.reconnect(self.rng.choice(self.server_urls))

    def _later(self, delay: float, callback: Callable, *args) -> asyncio.TimerHandle:
        """``call_later``, what the callback raises reported to the scene (the loop would only log it)."""

        def guarded() -> None:
            try:
                callback(*args)
            except Exception as error:
                self.scene.failures.append(error)
                self.scene.changed()

        return asyncio.get_running_loop().call_later(delay, guarded)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.scene.failures.append(task.exception())
            self.scene.changed()

    async def close(self) -> None:
        """Go away like a lost network, not with a close handshake: a reply the server is still
        sending (a pong, a fetch's answer) then meets a closed socket, which Daphne ignores, not
        a closing one, which autobahn refuses and the worker logs as an error."""
        if self.reconnecting:
            await self._connecting
        self.drop()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # Frames in

    def _arrive(self, frame: dict, generation: int) -> None:
        """A frame off the socket: through the fault layer to the client."""
        if frame["type"] == "batch":  # handled in order as if they had come one by one
            for inner in frame["frames"]:
                if generation == self._generation:
                    self._arrive(inner, generation)
            return
        if self.frozen:
            self._held.append(frame)
            return
        if self._is_broadcast(frame) and self.faults.on:
            self._seen.add(frame["rev"])
            roll = self.rng.random()
            if roll < self.faults.lose:
                self.paths["broadcast lost"] += 1
                return
            if roll < self.faults.lose + self.faults.hold:
                self.paths["broadcast held back"] += 1
                self._held.append(frame)
                delay = self.rng.uniform(0.001, self.faults.max_hold)
                self._later(delay, self._release, frame, generation)
                return
        if frame["type"] == "op":
            self._seen.add(frame["rev"])
        self._handle(frame, generation)

    def _is_broadcast(self, frame: dict) -> bool:
        """An op frame of another session that may have come through the channel layer."""
        return (
            frame["type"] == "op"
            and frame.get("session") != self.client.session
            and self._first_rev is not None
            and frame["rev"] > self._first_rev
            and frame["rev"] not in self._seen
        )

    def _release(self, frame: dict, generation: int) -> None:
        if generation == self._generation and any(held is frame for held in self._held):
            self._held.remove(frame)
            self._handle(frame, generation)

    def release_held(self) -> None:
        """Hand every held-back broadcast over now (faults are being switched off)."""
        held, self._held = self._held, []
        for frame in held:
            self._handle(frame, self._generation)

    def _handle(self, frame: dict, generation: int) -> None:
        client, kind = self.client, frame["type"]
        self.trace.append(json.dumps(frame, ensure_ascii=False)[:200])
        self._count_paths(frame)
        if kind in ("op", "ack") and "id" in frame:
            self.scene.told(frame["rev"], frame["id"])
            if kind == "ack":
                self.ack_revs[frame["id"]] = frame["rev"]
        if kind == "error":
            self.errors.append(frame)
            self.paths[f"error {frame.get('code')}"] += 1
        if kind in ("snapshot", "resume") and not client.live:
            self.first_frames.append(kind)
        if kind in ("snapshot", "resume"):
            self._first_rev = frame["rev"]
        replies = client.receive(frame)
        if client.needs_reconnect:
            self.paths["reconnected to learn what became of an edit"] += 1
            self.reconnect()
        else:
            self._send(replies)
            self._watch_gap()
        if self.on_frame is not None:
            self.on_frame(frame)
        self.scene.changed()

    def _count_paths(self, frame: dict) -> None:
        client, kind = self.client, frame["type"]
        self.paths[f"frame {kind}"] += 1
        if kind in ("op", "ack") and client.rev is not None and frame["rev"] > client.rev + 1:
            self.paths["frame arrived before the revision before it"] += 1
        if kind == "op" and client.outstanding is not None and frame["id"] == client.outstanding.op_id:
            self.paths["own pending edit found among the revisions"] += 1
        if kind == "snapshot" and client.rev is not None:
            self.paths["snapshot after history was forgotten"] += 1
            if client.outstanding is not None:
                self.paths["pending edits rebased on a snapshot"] += 1
                pending = frame.get("pending") or {}
                if pending.get("rev") is not None:
                    self.paths["snapshot says the pending edit was applied"] += 1
                elif client.outstanding.op_id in self.sent:
                    # The server cannot tell: it was forgotten (docs/protocol.md's known
                    # limit if its ack was lost; if the ack came, and waited behind a gap,
                    # test_convergence.py's xfail), or it is still on its way. The rebased
                    # edit may double it.
                    acked = (
                        "its ack came" if client.outstanding.op_id in self.ack_revs else "its ack was lost"
                    )
                    self.paths[f"snapshot cannot vouch for an edit that was sent ({acked})"] += 1
                    self.unvouched.append(self.sent[client.outstanding.op_id])

    # Frames out

    def _send(self, frames: list[dict]) -> None:
        for frame in frames:
            if frame["type"] == "op":
                self.sent.setdefault(frame["id"], kept_characters(frame["op"]))
            if self._outbox is not None:
                self._outbox.put_nowait(frame)

    def _watch_gap(self) -> None:
        """The browser's gap timer: a gap still open after a while is fetched (again, if need be)."""
        gap = self.client.has_gap and self.client.live
        if gap and self._gap_timer is None:
            self._gap_timer = self._later(self.gap_timeout, self._fetch_gap, self._generation)
        elif not gap and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _fetch_gap(self, generation: int) -> None:
        self._gap_timer = None
        if generation == self._generation and self.client.has_gap and self.client.live:
            self.paths["gap fetched"] += 1
            self._send([self.client.fetch_frame()])
            self._watch_gap()

    def fetch_gap_now(self) -> None:
        """The gap timer fires now (however long ``gap_timeout`` is)."""
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        self._fetch_gap(self._generation)

    def ping(self) -> None:
        """Ask for the head revision: a pong ahead of us is a gap, fetched if it stays open."""
        self._send([{"type": "ping"}])

    def type(self, op: ot.Operation) -> None:
        """Type: apply locally at once, send when the protocol allows."""
        self._send(self.client.local_edit(op))
        self.scene.changed()
