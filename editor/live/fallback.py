"""Fallback sessions: the document's WebSocket consumer, on a socket emulated over HTTP.

Where a proxy refuses WebSockets, the browser opens a fallback session
instead (editor/fallback.py has its HTTP face, docs/protocol.md its rules).
The worker that receives the opening request runs the application a
WebSocket handshake would reach (the same guards, the same consumer, the
same hub, limits and rights) on an ``EmulatedSocket``: frames the client
POSTs become its ``websocket.receive`` messages, in order; what it sends is
numbered and kept until the client says it has it, to be read as
Server-Sent Events or long polls, and read again after a reconnect.

The session stays on that worker. A request for it that reaches another
worker is relayed to this one through the channel layer (``Hub.call``), so
round-robin load balancing needs no sticky sessions. When the worker dies,
so does the session: the client opens another (anywhere) and resumes at the
protocol's level (``?rev=`` and ``?pending=``), as after a dropped
WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings

from editor.wire import protocol

from .sockets import WRITER_EXTENSION

logger = logging.getLogger(__name__)

# How often idle sessions are looked for.
SWEEP_SECONDS = 5.0


class SessionGone(Exception):
    """No such session on this worker: closed, expired, or never here (its worker restarted)."""


class Behind(Exception):
    """The client asks for events this session no longer keeps: it must open a new session and
    resume from its revision."""


class OutOfOrder(Exception):
    """Frames POSTed past a gap (``seq`` beyond what arrived): the client must send the missing
    ones first."""

    def __init__(self, expected: int) -> None:
        super().__init__(f"the next frame expected is number {expected}")
        self.expected = expected


class Busy(Exception):
    """The consumer has not taken the frames already waiting, or the session has as many
    readers waiting as it allows; the client tries again later."""


# Requests waiting for a session's events at once: a stream, and a poll while switching.
MOST_READERS = 2


@dataclass(frozen=True)
class Event:
    """One thing for the client, numbered from 1: a frame's text, or the close (the last)."""

    id: int
    frame: str | None = None
    close: tuple[int, str] | None = None  # (code, reason)

    def as_message(self) -> dict:
        """As a long poll's JSON (and the channel layer) carries it."""
        if self.close is not None:
            return {"id": self.id, "close": {"code": self.close[0], "reason": self.close[1]}}
        return {"id": self.id, "frame": self.frame}


class EmulatedSocket:
    """One fallback session: an ASGI WebSocket connection whose client speaks HTTP."""

    def __init__(self, key: str, *, keep_events: int, inbound_frames: int, max_frame_bytes: int) -> None:
        self.key = key
        self._inbox: asyncio.Queue[dict] = asyncio.Queue()
        self._events: deque[Event] = deque()
        self._next_id = 1
        self._keep_events = keep_events
        self._inbound_frames = inbound_frames
        self._max_frame_bytes = max_frame_bytes
        self._changed = asyncio.Event()  # set, and replaced, whenever an event is added
        self._taken = asyncio.Event()  # likewise whenever the consumer takes a message
        self._pushing = asyncio.Lock()
        self.accepted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed: tuple[int, str] | None = None  # once the server (or the client) closed
        self.received = 0  # frames the client sent that reached the inbox: the next ``seq``
        self.readers = 0  # requests waiting for events now
        self.last_request = time.monotonic()
        self.task: asyncio.Task | None = None

    def scope_extension(self) -> dict:
        """For the scope's ``sockets.WRITER_EXTENSION``: closes with the exact code (the consumer's
        ``ClientSocket`` would otherwise map 1008 to 4008, as for autobahn's send)."""
        return {"close": self.close, "closed": lambda: self.closed is not None}

    # The application's side (ASGI)

    async def receive(self) -> dict:
        message = await self._inbox.get()
        self._taken.set()
        self._taken = asyncio.Event()
        return message

    async def send(self, message: dict) -> None:
        match message["type"]:
            case "websocket.accept":
                if not self.accepted.done():
                    self.accepted.set_result(True)
            case "websocket.send":
                if self.closed is None and message.get("text") is not None:
                    self._add(Event(self._next_id, frame=message["text"]))
            case "websocket.close":
                self.close(message.get("code") or 1000, message.get("reason") or "")

    def close(self, code: int, reason: str = "") -> None:
        """Closed by the server (the consumer, a frame too big) or for the client (it said so,
        or stopped asking): the close is the last event, and the consumer's disconnect() runs."""
        if self.closed is not None:
            return
        self.closed = (code, reason)
        if not self.accepted.done():
            self.accepted.set_result(False)  # refused before the handshake completed
            self._inbox.put_nowait({"type": "websocket.disconnect", "code": code})
            return
        self._add(Event(self._next_id, close=self.closed))
        # As Daphne does once a socket closed: the consumer's disconnect() runs.
        self._inbox.put_nowait({"type": "websocket.disconnect", "code": code})

    def _add(self, event: Event) -> None:
        self._next_id += 1
        self._events.append(event)
        while len(self._events) > self._keep_events:
            self._events.popleft()  # a client this far behind is Behind, and resumes afresh
        self._changed.set()
        self._changed = asyncio.Event()

    # The client's side

    async def push(self, seq: int, frames: list[str]) -> int:
        """Frames from the client, the first being its ``seq``-th (from 0): those already received
        (a POST sent again) are skipped. Returns the next ``seq``. One at a time: a POST sent
        again while the first waits for room must find the first's frames received."""
        async with self._pushing:
            return await self._push(seq, frames)

    async def _push(self, seq: int, frames: list[str]) -> int:
        self.last_request = time.monotonic()
        if seq > self.received:
            raise OutOfOrder(self.received)
        fresh = frames[self.received - seq :]
        if self.closed is None and self._inbox.qsize() + len(fresh) > self._inbound_frames:
            # Backpressure, as the server pauses reading a socket whose frames wait.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.EDITOR_FALLBACK_WAIT_SECONDS):
                    while self._inbox.qsize() + len(fresh) > self._inbound_frames and self.closed is None:
                        await self._taken.wait()
            if self.closed is None and self._inbox.qsize() + len(fresh) > self._inbound_frames:
                raise Busy()
        for text in fresh:
            self.received += 1
            if self.closed is not None:
                continue  # read by nobody, as on a closed WebSocket; the close event says why
            if len(text.encode()) > self._max_frame_bytes:
                # As the WebSocket server does (editor/server.py): the message is refused, the
                # connection closed with 1009 and nothing after it read.
                self.close(protocol.CLOSE_MESSAGE_TOO_BIG, "message too big")
                continue
            self._inbox.put_nowait({"type": "websocket.receive", "text": text})
        return self.received

    async def pull(self, *, after: int, ack: int | None, wait: float, most: int) -> list[Event]:
        """The events after ``after`` (at most ``most``), waiting up to ``wait`` seconds for one;
        those up to ``ack`` are forgotten first (the client has them)."""
        self.last_request = time.monotonic()
        self.forget(ack)
        first_kept = self._events[0].id if self._events else self._next_id
        if not first_kept - 1 <= after < self._next_id:
            raise Behind()
        if after == self._next_id - 1 and self.closed is None and wait > 0:
            if self.readers >= MOST_READERS:
                raise Busy()
            self.readers += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
            finally:
                self.readers -= 1
                self.last_request = time.monotonic()
        return [event for event in self._events if event.id > after][:most]

    def forget(self, ack: int | None) -> None:
        """The client has every event up to ``ack``: they need not be kept for a reconnect."""
        if ack is not None:
            while self._events and self._events[0].id <= ack:
                self._events.popleft()

    def idle_for(self, now: float) -> float:
        return 0.0 if self.readers else now - self.last_request


Application = Callable[[dict, Callable, Callable], Awaitable[None]]


class FallbackSessions:
    """This worker's fallback sessions, by key, and the answers to requests about them (from
    this worker's views, or relayed from another worker's through the hub)."""

    def __init__(self) -> None:
        self._sessions: dict[str, EmulatedSocket] = {}
        self._sweeper: asyncio.Task | None = None
        self.stopping = asyncio.Event()  # set when the worker stops: streams end

    def __len__(self) -> int:
        return len(self._sessions)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="editor-fallback")

    async def stop(self) -> None:
        self.stopping.set()
        for session in list(self._sessions.values()):
            session.close(protocol.CLOSE_GOING_AWAY)
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        if self._sweeper is not None:
            self._sweeper.cancel()
            tasks.append(self._sweeper)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def open(self, application: Application, scope: dict) -> tuple[str, EmulatedSocket]:
        """Run ``application`` on a new emulated socket of ``scope`` (a WebSocket scope) and wait for
        its handshake: ``accepted`` says whether it completed."""
        key = secrets.token_urlsafe(18)
        session = EmulatedSocket(
            key,
            keep_events=settings.EDITOR_FALLBACK_KEPT_EVENTS,
            inbound_frames=settings.EDITOR_INBOUND_QUEUE_FRAMES,
            max_frame_bytes=settings.EDITOR_MAX_FRAME_BYTES,
        )
        scope = {
            **scope,
            "extensions": {**scope.get("extensions", {}), WRITER_EXTENSION: session.scope_extension()},
        }
        self._sessions[key] = session
        session._inbox.put_nowait({"type": "websocket.connect"})
        # In a context of its own, as Daphne starts an application: the opening request's
        # (its thread-sensitive executor, which ends with the request) is not the session's.
        session.task = asyncio.get_running_loop().create_task(
            self._run(application, scope, session), context=contextvars.Context()
        )
        await asyncio.shield(session.accepted)
        return key, session

    async def _run(self, application: Application, scope: dict, session: EmulatedSocket) -> None:
        try:
            await application(scope, session.receive, session.send)
        except Exception:
            logger.exception("fallback session %s failed", session.key)
            session.close(1011, "internal error")
        finally:
            if not session.accepted.done():
                session.accepted.set_result(False)
            if session.closed is None:  # the application returned without closing: as Daphne would
                session.close(1000)
            if not session._events or not session.accepted.result():
                self._sessions.pop(session.key, None)

    def get(self, key: str) -> EmulatedSocket:
        session = self._sessions.get(key)
        if session is None:
            raise SessionGone()
        return session

    async def answer(self, request: dict) -> dict:
        """One request about a session held here, as the channel layer carries it (``Hub.call``):
        ``{"session", "do": "push" | "pull" | "close", ...}``; the answer names an error or holds
        the result."""
        try:
            session = self.get(request["session"])
            match request["do"]:
                case "push":
                    session.forget(request.get("ack"))
                    return {"next": await session.push(request["seq"], request["frames"])}
                case "pull":
                    events = await session.pull(
                        after=request["after"],
                        ack=request.get("ack"),
                        wait=request["wait"],
                        most=request["most"],
                    )
                    if session.closed is not None and not session._events:
                        self._sessions.pop(session.key, None)  # the client has the close
                    return {"events": [event.as_message() for event in events]}
                case "close":
                    session.close(1000)
                    self._sessions.pop(session.key, None)
                    return {}
        except SessionGone:
            return {"error": "gone"}
        except Behind:
            return {"error": "behind"}
        except OutOfOrder as error:
            return {"error": "out-of-order", "expected": error.expected}
        except Busy:
            return {"error": "busy"}
        raise ValueError(f"unknown fallback request {request['do']!r}")

    async def _sweep(self) -> None:
        """Sessions nobody asked about for EDITOR_FALLBACK_IDLE_SECONDS are closed (their client
        went away, as a dropped TCP connection), and forgotten once their consumer is done."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if session.idle_for(now) < settings.EDITOR_FALLBACK_IDLE_SECONDS:
                    continue
                session.close(protocol.CLOSE_ABNORMAL)
                if session.task is None or session.task.done():
                    self._sessions.pop(session.key, None)
