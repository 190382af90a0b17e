"""This process's connections, by document: the fan-out of edits and presence.

The tutorial's pattern (every connection joins the document's group, every
broadcast is one channel-layer message per connection, dispatched through
each consumer) costs a channel-layer delivery, a task wake-up and a database
connection check per recipient. Here each process has one channel, joined
to the groups of the documents it serves: the edits a process commits
together are one message per document, encoded once, written by each
process's hub to its local sockets, each frame built once for all of them
(sockets.py).

Presence changes (joins, leaves, carets, renames) are coalesced per document
for PRESENCE_TICK and travel as one ``batch`` frame, so that a crowd joining
or moving costs one message per tick instead of one per pair of people.

The messages between hubs are defined in messages.py; each is handled here
by the method named after its type.

The channel layer can lose messages (channels-redis' pub/sub drops what is
published while Redis is away): every LAYER_CHECK_SECONDS the hub sends
itself a message through it (through each Redis shard: ``shard_probes``).
When that stops coming back, local connections are told edits from
elsewhere may be late (``relay`` frame); when it comes back, each is also
told the document's head revision, so a client that missed a broadcast
fetches it at once instead of at its next ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.exceptions
from channels.consumer import get_handler_name

from editor.wire import protocol
from editor.wire.websocket import EncodedFrame

from . import messages

logger = logging.getLogger(__name__)

PRESENCE_TICK = 0.05  # seconds
GROUP_SEND_TIMEOUT = 2.0  # seconds
LAYER_CHECK_SECONDS = 0.25  # how often the hub checks that the layer carries its messages


def layer_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the channel layer could not be reached (Redis away), rather than
    refused a message: an outage, logged without a traceback."""
    return isinstance(
        error, (OSError, TimeoutError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    )


class HubStopped(Exception):
    """Raised in a ``Hub.call`` still waiting when its hub stops."""


def document_group(slug: str) -> str:
    """The channel-layer group of the processes serving one document."""
    return f"doc.{slug}"


def shard_probes(layer, channel_name: str) -> list[str]:
    """Groups of this hub's own, one on each Redis shard of ``layer``, in shard order: with
    several shards a round trip goes through each, so that any shard away fails it. None with
    one Redis or the in-memory layer (the hub's own channel is the round trip).

    channels-redis' pub/sub layer keeps its shards private (``_shards``, ``_get_shard``); asking
    it, rather than hashing here, places the groups wherever its own hash does.
    """
    shards = getattr(layer, "_shards", None)
    if not shards or len(shards) < 2:
        return []
    found: dict[int, str] = {}
    unique = channel_name.rsplit(".", 1)[-1]
    for n in range(100 * len(shards)):  # each name lands on a given shard one time in len(shards)
        group = f"hub-probe.{unique}.{n}"
        found.setdefault(shards.index(layer._get_shard(layer._get_group_channel_name(group))), group)
        if len(found) == len(shards):
            return [found[index] for index in range(len(shards))]
    raise RuntimeError(f"no probe group found for shards {sorted(set(range(len(shards))) - set(found))}")


class Member(Protocol):
    """A connection, as the hub knows it."""

    session_id: str

    async def deliver(self, frame: EncodedFrame) -> None:
        """Called with each frame for this connection: others' edits and presence."""

    async def kick(self, reason: str) -> None:
        """Called when an operator disconnects this session."""

    async def restart(self) -> None:
        """Called when this process shuts down: close, so that the client comes back elsewhere."""

    def relay_changed(self, carried: bool) -> None:
        """Called when the channel layer stops (or starts again) carrying messages between
        processes; on starting again, the connection checks it missed nothing."""

    def access_changed(self) -> None:
        """Called when who may do what on the document changed; reads its rights again, later."""

    def person_frame(self) -> str:
        """Who this connection is and where its caret is, as a ``person`` frame."""

    @property
    def present(self) -> bool:
        """Shown to others: admitted to the document (its rights read) and not gone."""


class Hub:
    """Started and stopped with the rest of the worker (worker.py), on one event loop."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel_name: str | None = None
        self.rooms: dict[str, dict[str, Member]] = {}
        self._subscriptions: dict[str, asyncio.Lock] = {}
        self._subscribed: set[str] = set()
        self._reader: asyncio.Task | None = None
        self._presence: dict[str, dict[str, str]] = {}  # slug -> session -> latest presence frame
        self._leaving: dict[str, set[str]] = {}  # slug -> sessions whose leave is pending
        self._flushes: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self._pings: dict[str, asyncio.Future] = {}
        self._probes: list[str] = []  # shard_probes
        self._watch: asyncio.Task | None = None
        self.layer_carries = True  # as the last check found
        # Answers requests from other processes about what this one holds (hub_call).
        self.answerer: Callable[[dict], Awaitable[dict]] | None = None
        self._calls: dict[str, asyncio.Future] = {}

    async def start(self) -> None:
        if self.channel_name is None:  # else a start that failed half-way, tried again
            self.channel_name = await self.layer.new_channel("hub.")
        self._probes = shard_probes(self.layer, self.channel_name)
        for group in self._probes:
            await self.layer.group_add(group, self.channel_name)
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read(), name="editor-hub")
        self._watch = loop.create_task(self._watch_layer(), name="editor-hub-watch")

    async def stop(self) -> None:
        # The presence waiting for its tick goes now: the last leaves of a
        # shutdown among it, which the other processes' pages must hear.
        for slug, flush in list(self._flushes.items()):
            flush.cancel()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(GROUP_SEND_TIMEOUT):
                    await self._flush(slug)
        for answered in self._calls.values():  # their answers can no longer arrive
            if not answered.done():
                answered.set_exception(HubStopped())
        tasks = [task for task in (self._reader, self._watch, *self._tasks) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Membership

    async def join(self, slug: str, member: Member) -> None:
        """Add a connection; returns once this process hears the document's broadcasts."""
        async with self._subscriptions.setdefault(slug, asyncio.Lock()):
            if slug not in self._subscribed:
                await self.layer.group_add(document_group(slug), self.channel_name)
                self._subscribed.add(slug)
            self.rooms.setdefault(slug, {})[member.session_id] = member

    async def leave(self, slug: str, member: Member) -> None:
        room = self.rooms.get(slug, {})
        room.pop(member.session_id, None)
        if room:
            return
        async with self._subscriptions.setdefault(slug, asyncio.Lock()):
            if not self.rooms.get(slug) and slug in self._subscribed:
                self.rooms.pop(slug, None)
                self._subscribed.discard(slug)
                await self.layer.group_discard(document_group(slug), self.channel_name)

    async def round_trip(self) -> None:
        """Returns once a message sent to this hub's own channel, and one to each of its probe
        groups (one per Redis shard), came back through the layer."""
        loop = asyncio.get_running_loop()
        sends = [(self.layer.send, self.channel_name), *((self.layer.group_send, g) for g in self._probes)]
        tokens = [secrets.token_hex(8) for _ in sends]
        try:
            for (send, address), token in zip(sends, tokens, strict=True):
                self._pings[token] = loop.create_future()
                await send(address, messages.hub_ping(token))
            await asyncio.gather(*(self._pings[token] for token in tokens))
        finally:
            for token in tokens:
                self._pings.pop(token, None)

    async def call(self, channel: str, request: dict, *, within: float) -> dict:
        """Ask the process whose hub has ``channel`` (this one's too) about what it holds, and
        wait up to ``within`` seconds for its answer; TimeoutError when none comes (that
        process is gone, or the layer is not carrying messages)."""
        if channel == self.channel_name:
            async with asyncio.timeout(within):
                return await self.answerer(request)
        token = secrets.token_hex(8)
        answered = self._calls[token] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                await self.layer.send(
                    channel, messages.hub_call(request, reply_to=self.channel_name, token=token)
                )
                return await answered
        finally:
            self._calls.pop(token, None)

    async def _watch_layer(self) -> None:
        away_since = 0.0
        while True:
            await asyncio.sleep(LAYER_CHECK_SECONDS)
            try:
                # Patient while it works (a busy Redis is no outage), quick to see it back.
                async with asyncio.timeout(
                    GROUP_SEND_TIMEOUT if self.layer_carries else LAYER_CHECK_SECONDS * 2
                ):
                    await self.round_trip()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.layer_carries:
                    self.layer_carries, away_since = False, time.monotonic()
                    logger.warning(
                        "the channel layer is not carrying messages (%s); telling local clients",
                        str(error) or "no answer",
                    )
                    self._tell_members(carried=False)
                continue
            if not self.layer_carries:
                self.layer_carries = True
                logger.info(
                    "the channel layer is back after %.1f s; local clients check their revision",
                    time.monotonic() - away_since,
                )
                self._tell_members(carried=True)

    def _tell_members(self, *, carried: bool) -> None:
        for member in self.members():
            try:
                member.relay_changed(carried)
            except Exception:
                logger.debug("could not tell %s", member.session_id, exc_info=True)

    def members(self) -> list[Member]:
        return [member for room in self.rooms.values() for member in room.values()]

    def local_people(self, slug: str, *, except_session: str | None = None) -> list[str]:
        members = self.rooms.get(slug, {}).items()
        return [m.person_frame() for s, m in members if s != except_session and m.present]

    # Sending

    async def publish_ops(self, slug: str, ops: list[tuple[str, str]]) -> None:
        """Accepted edits, as (frame, author) in revision order: to the local members now, to the
        other processes in one message. Nobody receives their own edits (they get acks)."""
        await self._deliver_ops(slug, ops)
        await self._group_send(slug, messages.hub_ops(slug, ops, origin=self.channel_name))

    async def publish(self, slug: str, frame: str) -> None:
        """A frame for everyone on the document, on every process."""
        await self._deliver(slug, frame)
        await self._group_send(slug, messages.hub_frames(slug, frame, origin=self.channel_name))

    async def ask_who_is_here(self, slug: str, newcomer: Member) -> None:
        """Tell a newcomer who is here: this process's people at once, the others' on request."""
        local = self.local_people(slug, except_session=newcomer.session_id)
        if local:
            await self._deliver_to(newcomer, EncodedFrame(protocol.batch_frame(local)))
        query = messages.hub_query(
            slug, session=newcomer.session_id, reply_to=self.channel_name, origin=self.channel_name
        )
        await self._group_send(slug, query)

    def presence_changed(self, slug: str, session_id: str, frame: str, *, leaving: bool = False) -> None:
        """Someone joined, moved, renamed or left: sent with the document's next tick.

        Within a tick a person's latest frame wins, except over a leave: a
        late update (a heartbeat's re-announcement) must not bring them back.
        """
        pending = self._presence.setdefault(slug, {})
        if session_id in self._leaving.get(slug, ()):
            return
        if leaving:
            self._leaving.setdefault(slug, set()).add(session_id)
        pending[session_id] = frame
        if slug not in self._flushes:
            self._flushes[slug] = asyncio.get_running_loop().call_later(
                PRESENCE_TICK, self._flush_later, slug
            )

    def _flush_later(self, slug: str) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(slug))
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, slug: str) -> None:
        self._flushes.pop(slug, None)
        self._leaving.pop(slug, None)
        frames = list(self._presence.pop(slug, {}).values())
        if frames:
            await self.publish(slug, protocol.batch_frame(frames))

    async def _group_send(self, slug: str, message: messages.Message) -> None:
        try:
            # A Redis that hangs must not hold up the edits waiting behind this.
            async with asyncio.timeout(GROUP_SEND_TIMEOUT):
                await self.layer.group_send(document_group(slug), message)
        except Exception as error:
            # Committed edits are not lost: clients find the gap and fetch it
            # (at once when the layer is back: _watch_layer).
            if layer_unavailable(error):
                logger.warning("broadcast to %s failed: %s", document_group(slug), str(error) or "timed out")
            else:
                logger.exception("broadcast to %s failed", document_group(slug))

    async def _deliver(self, slug: str, text: str) -> None:
        frame = EncodedFrame(text)
        for member in list(self.rooms.get(slug, {}).values()):
            await self._deliver_to(member, frame)

    async def _deliver_ops(self, slug: str, ops: list[tuple[str, str]]) -> None:
        """Several edits reach each member as one frame (a ``batch`` if more than one)."""
        everyone = EncodedFrame(_one_frame([frame for frame, _ in ops]))
        authors = {author for _, author in ops}
        for session_id, member in list(self.rooms.get(slug, {}).items()):
            if session_id not in authors:
                await self._deliver_to(member, everyone)
            elif others := [frame for frame, author in ops if author != session_id]:
                await self._deliver_to(member, EncodedFrame(_one_frame(others)))

    @staticmethod
    async def _deliver_to(member: Member, frame: EncodedFrame) -> None:
        """One socket's failure (it closed a moment ago) is not the others'."""
        try:
            await member.deliver(frame)
        except Exception:
            logger.debug("could not deliver to %s", member.session_id, exc_info=True)

    # Receiving: one method per message type (messages.py)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
                if message.get("origin") == self.channel_name:
                    continue  # our own broadcast: the local members had it already
                name = get_handler_name(message)
                handler = getattr(self, name, None) if name.startswith("hub_") else None
                if handler is None:
                    logger.error("no handler for message type %s", message["type"])
                    continue
                await handler(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub failed to handle a message")

    async def hub_ops(self, message: messages.Message) -> None:
        await self._deliver_ops(message["slug"], [(frame, author) for frame, author in message["ops"]])

    async def hub_frames(self, message: messages.Message) -> None:
        slug = message["slug"]
        if "to" not in message:
            await self._deliver(slug, message["frame"])
        elif (member := self.rooms.get(slug, {}).get(message["to"])) is not None:
            await self._deliver_to(member, EncodedFrame(message["frame"]))

    async def hub_query(self, message: messages.Message) -> None:
        slug = message["slug"]
        local = self.local_people(slug)
        if not local:
            return
        answer = messages.hub_frames(slug, protocol.batch_frame(local), to=message["session"])
        try:
            await self.layer.send(message["reply_to"], answer)
        except Exception:
            logger.exception("could not reach %s", message["reply_to"])

    async def hub_ping(self, message: messages.Message) -> None:
        arrived = self._pings.get(message["token"])
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def hub_call(self, message: messages.Message) -> None:
        # Answered in a task: a long poll waits for events, and the reader must go on meanwhile.
        task = asyncio.get_running_loop().create_task(self._answer_call(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_call(self, message: messages.Message) -> None:
        try:
            answer = await self.answerer(message["request"]) if self.answerer else {"error": "gone"}
            await self.layer.send(message["reply_to"], messages.hub_answer(message["token"], answer))
        except Exception as error:
            if layer_unavailable(error):  # the asker times out, as for a lost message
                logger.warning("could not answer %s: %s", message["reply_to"], error)
            else:
                logger.exception("could not answer %s", message["reply_to"])

    async def hub_answer(self, message: messages.Message) -> None:
        answered = self._calls.get(message["token"])
        if answered is not None and not answered.done():
            answered.set_result(message["answer"])

    async def hub_access(self, message: messages.Message) -> None:
        for member in list(self.rooms.get(message["slug"], {}).values()):
            member.access_changed()

    async def hub_kick(self, message: messages.Message) -> None:
        member = self.rooms.get(message["slug"], {}).get(message["session"])
        if member is not None:
            await member.kick(message["reason"])


def _one_frame(frames: list[str]) -> str:
    return frames[0] if len(frames) == 1 else protocol.batch_frame(frames)
