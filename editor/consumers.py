"""WebSocket consumers: decode frames, call the worker's parts and services, send the results."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import selectors, services
from .access import grants
from .access.rules import Access, Role
from .live import worker
from .live.hub import layer_unavailable
from .live.limits import ConnectionLimits, Refusal
from .live.sockets import ClientSocket
from .live.threads import in_thread_pool
from .network import address_text, client_peer
from .ot.server import Edit, EditRejected
from .store import documents, history
from .store.drivers import database_unavailable
from .wire import names, protocol
from .wire.websocket import EncodedFrame

logger = logging.getLogger(__name__)

# A rename is a database write and a broadcast to everyone: at most one a second.
RENAME_INTERVAL = 1.0

# An edit refused because the rights changed after it was sent is tried again
# under the new ones; more changes than this while it waits are unlikely.
ACCESS_RETRIES = 3

# The limit (live/limits.py) each kind of frame counts against, besides every frame's.
LIMIT_OF = {
    protocol.OpRequest: "edits",
    protocol.CaretRequest: "presence",
    protocol.RenameRequest: "presence",
    protocol.FetchRequest: "fetches",
    protocol.PingRequest: "fetches",
    protocol.HistoryRequest: "fetches",
    protocol.SaveVersionRequest: "fetches",
    protocol.RevertRequest: "fetches",
    protocol.DiffRequest: "fetches",
}


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:] + "."


def _op_id_of(text: str | None, data: bytes | None) -> str | None:
    """The id of a refused edit, so that the client sends it again (bounded by the strikes)."""
    try:
        request = protocol.parse_client_frame(text, data, max_bytes=settings.EDITOR_MAX_FRAME_BYTES)
    except protocol.ProtocolError as error:
        return error.op_id
    return getattr(request, "op_id", None)


class DocumentConsumer(AsyncWebsocketConsumer):
    """One browser tab editing one document.

    Edits go to this process's committer (live/committer.py), which commits
    them with whatever else is waiting and hands them to the hub
    (live/hub.py) for the document's other connections; then they are
    acknowledged here. Presence (who is here, where their caret is) lives in
    the consumers, not the database; the hub coalesces it. Every frame to
    the client goes through ``self.socket`` (live/sockets.py).

    What the connection may do (``self.access``, access/rules.py) is checked
    on every frame; edits are checked again by their commit, against the
    rights in the database. A change of rights reaches it through the hub
    (``access_changed``) from whichever process made it.
    """

    # No channel of its own: everything reaches a connection through the hub.
    channel_layer_alias = None
    document_id: int | None = None  # once the session is recorded
    joined = False  # counted and in the hub, until _leave()
    counted_as: str | None = None  # the key of ConnectionCounts this connection is counted under
    closing = False
    access: Access | None = None  # once read, on connecting

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.joined:
                # Daphne cancels a consumer still busy 10 s after its socket
                # closed, and disconnect() never ran: leave as it would have.
                # Shielded, as Daphne cancels it again every second.
                logger.warning("session %s ended without its disconnect; leaving now", self.session_id)
                await asyncio.shield(self._leave())

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch closes stale database connections before every
        # handler, a thread hop per frame; database work here goes through
        # in_thread_pool, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        """Called when the handshake arrives: accept, join the document, send its text."""
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        self.session_id = secrets.token_hex(6)
        host, port = client_peer(self.scope, settings.TRUSTED_PROXY_NETWORKS)
        self.client_address = address_text(host, port)
        self.limits = ConnectionLimits(settings.EDITOR_RATES)
        self.ops_sent = 0
        self.caret: tuple[int, int] | None = None
        self.caret_rev: int | None = None
        self._person_seq = 0
        self._renamed_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._access_changes = 0  # how many changes of rights the hub told of
        self._access_follower: asyncio.Task | None = None
        # Broadcasts that arrive before the first frame is sent wait here:
        # the protocol's first frame is the snapshot (or the resume).
        self._held: list[EncodedFrame] | None = []
        self.socket = ClientSocket(self.scope, fallback=self.send, fallback_close=self.close)
        query = protocol.parse_connect_query(self.scope.get("query_string", b""))
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            self.user_id, self.name = user.pk, names.clean_name(user.get_username()) or "user"
        else:
            self.user_id, self.name = None, query.name or names.generated_name()
        self.color = names.color_for(self.name)
        browser_session = self.scope.get("session")
        self.person = names.person_key(
            secret=settings.SECRET_KEY,
            document=self.slug,
            user_id=self.user_id,
            browser_session=browser_session.session_key if browser_session is not None else None,
            connection=self.session_id,
        )
        # Complete the handshake first: under a storm of connections the rest
        # waits its turn, and Daphne drops handshakes not accepted in 5 s.
        await self.accept()
        try:
            await self._admit(query, host)
        except worker.Draining:  # accepted just before this worker stopped listening, or while it joined
            await self._leave()
            self.closing = True
            await self.socket.close(protocol.CLOSE_SERVICE_RESTART)
        except Exception as error:
            # Channels calls no disconnect() after a failed connect: leave
            # now, or the hub would keep announcing (and buffering for) a ghost.
            await self._leave()
            if not (database_unavailable(error) or layer_unavailable(error)):
                raise
            # An outage (the database or Redis away), not a failure: documented, no
            # traceback; the browser tries again with its backoff.
            logger.warning(
                "refused doc=%s client=%s: unavailable (%s)", self.slug, self.client_address, error
            )
            message = "the server cannot serve this document at the moment; trying again shortly"
            await self._close(protocol.error_frame("unavailable", message), protocol.CLOSE_TRY_AGAIN_LATER)
        except BaseException:
            await self._leave()
            raise

    async def _admit(self, query: protocol.ConnectQuery, host: str | None) -> None:
        """Count the connection, join the document's hub, start it (``_start``)."""
        self.worker = await worker.current()
        if self.user_id is not None:
            self.counted_as, most = f"user {self.user_id}", settings.EDITOR_MAX_CONNECTIONS_PER_USER
        elif host:
            self.counted_as, most = f"address {host}", settings.EDITOR_MAX_CONNECTIONS_PER_ADDRESS
        # else no peer address (a Unix socket): one counter for everyone would refuse everyone
        if self.counted_as is not None and not self.worker.connections.admit(self.counted_as, limit=most):
            logger.warning(
                "refused doc=%s client=%s: %d connections of %s", self.slug, host, most, self.counted_as
            )
            await self._close(
                protocol.error_frame(
                    "too-many-connections", f"at most {most} connections at once; close some"
                ),
                protocol.CLOSE_POLICY_VIOLATION,
            )
            return
        self.joined = True
        self.worker.opened(self.session_id)
        # Join before reading the document: an edit committed after the read
        # then arrives as a broadcast, so nothing falls between the two.
        await self.worker.hub.join(self.slug, self)
        if self.worker.draining:  # it began while this one was joining: not among those it closed
            raise worker.Draining()
        await self._start(query)

    async def _start(self, query: protocol.ConnectQuery) -> None:
        """Record the session and send the first frame (snapshot or resume), then what was held."""
        self.visitor = await in_thread_pool(grants.Visitor.of_socket)(self.user_id, self.scope.get("session"))
        changes_before = self._access_changes
        start = await in_thread_pool(services.session_connect)(
            slug=self.slug,
            session_id=self.session_id,
            display_name=self.name,
            person=self.person,
            visitor=self.visitor,
            client_address=self.client_address,
            user_agent=_header(self.scope, b"user-agent"),
            worker=settings.WORKER_ID,
            resume_rev=query.rev,
            pending_id=query.pending,
        )
        if not start.access.can_view:
            logger.warning(
                "refused doc=%s client=%s: %s", self.slug, self.client_address, start.access.reason
            )
            await self._close(
                protocol.error_frame("forbidden", _sentence(start.access.reason)), protocol.CLOSE_FORBIDDEN
            )
            await self._leave()
            return
        opening, self.access = start.opening, start.access
        self.document_id = opening.document_id
        welcome = self._welcome(people=start.people)
        if opening.missed is None:
            frame = protocol.snapshot_frame(
                rev=opening.rev,
                text=opening.text,
                welcome=welcome,
                pending_id=query.pending,
                pending_rev=opening.pending_rev,
            )
            await self.socket.send(frame)
        else:
            await self.socket.send(protocol.resume_frame(rev=opening.rev, welcome=welcome))
            await self._send_logged(opening.missed)
        held, self._held = self._held, None
        for frame in held:
            await self.socket.send(frame)
        self.worker.liveness.add(self)
        self._log("connect", start.people)
        self.worker.observer.joined(self.slug, {**self._who(), "people": start.people})
        hub = self.worker.hub
        hub.presence_changed(self.slug, self.session_id, self.person_frame())
        await hub.ask_who_is_here(self.slug, self)
        if not hub.layer_carries:
            await self.socket.send(protocol.relay_frame(carried=False))
        if self._access_changes != changes_before:
            self.access_changed()  # while connecting: maybe after the rights were read

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes; a killed worker never gets here (see live/liveness.py)."""
        await asyncio.shield(self._leave())  # Daphne cancels a consumer still here 10 s after the close

    async def _leave(self) -> None:
        """Leave the document, once: after the socket closed, a failed connect, or a killed consumer."""
        if not self.joined:
            return
        self.joined, self.closing = False, True
        try:
            await self._leave_document()
        finally:
            self.worker.left(self.session_id)  # a shutdown waits for this (live/worker.py drain)

    async def _leave_document(self) -> None:
        if self._access_follower is not None:
            self._access_follower.cancel()
        # First, so that this worker stops vouching for the session even if
        # leaving the hub fails (Redis down): expiry then closes it.
        self.worker.liveness.discard(self)
        if self.counted_as is not None:
            self.worker.connections.release(self.counted_as)
        try:
            await self.worker.hub.leave(self.slug, self)
        finally:
            if self.document_id is not None:
                self.worker.hub.presence_changed(
                    self.slug, self.session_id, protocol.leave_frame(session=self.session_id), leaving=True
                )
                try:
                    people = await in_thread_pool(services.session_disconnect)(
                        session_id=self.session_id,
                        document_id=self.document_id,
                        ops_sent=self.ops_sent,
                    )
                except Exception as error:
                    if not database_unavailable(error):
                        raise
                    # Recorded once the database is back (the next heartbeat that gets through).
                    logger.warning("session %s closed; recording it later: %s", self.session_id, error)
                    self.worker.liveness.close_later(self.session_id)
                else:
                    self._log("disconnect", people)
                    self.worker.observer.left(self.slug, {**self._who(), "people": people})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called with each frame from the client."""
        if self.closing:
            return  # what was sent after the connection was closed for abuse
        if refusal := self.limits.check():  # before parsing: garbage costs its parse only within limits
            await self._refuse(refusal, _op_id_of(text_data, bytes_data) if not refusal.final else None)
            return
        try:
            request = protocol.parse_client_frame(
                text_data, bytes_data, max_bytes=settings.EDITOR_MAX_FRAME_BYTES
            )
        except protocol.ProtocolError as error:
            await self.socket.send(protocol.error_frame(error.code, error.message, error.op_id))
            return
        if refusal := self.limits.check(LIMIT_OF[type(request)]):
            await self._refuse(refusal, getattr(request, "op_id", None))
            return
        if self.access is None or not self.access.can_view:
            return  # not started yet (Channels sends nothing before connect ends), or closing
        try:
            match request:
                case protocol.OpRequest():
                    await self._receive_op(request)
                case protocol.CaretRequest():
                    self.caret, self.caret_rev = (request.start, request.end), request.rev
                    self.worker.hub.presence_changed(self.slug, self.session_id, self.person_frame())
                case protocol.FetchRequest():
                    await self._receive_fetch(request)
                case protocol.RenameRequest():
                    await self._receive_rename(request)
                case protocol.PingRequest():
                    await self._receive_ping()
                case protocol.HistoryRequest():
                    await self._receive_history(request.rev)
                case protocol.SaveVersionRequest():
                    await self._receive_save_version(request)
                case protocol.RevertRequest():
                    await self._receive_revert(request)
                case protocol.DiffRequest():
                    await self._receive_diff(request)
        except Exception as error:
            # One bad frame must not cost the connection (and leave its
            # session looking connected): report it and carry on. About an
            # edit, the id tells the client to resume on a new connection,
            # where the server says whether the edit was applied.
            op_id = getattr(request, "op_id", None)
            if database_unavailable(error):  # an outage: no traceback, the client tries again
                logger.warning(
                    "a %s frame in session %s: database unavailable", type(request).__name__, self.session_id
                )
                code, message = ("internal-error", "the edit could not be stored: the database is away")
                if op_id is None:
                    code, message = "unavailable", "the server cannot reach its database at the moment"
                await self.socket.send(protocol.error_frame(code, message, op_id))
                return
            logger.exception(
                "failed to handle a %s frame in session %s", type(request).__name__, self.session_id
            )
            await self.socket.send(
                protocol.error_frame("internal-error", "the server failed to handle that frame", op_id)
            )

    async def _refuse(self, refusal: Refusal, op_id: str | None) -> None:
        """A frame over its limit is dropped; the client is told, and closed once out of strikes."""
        if not refusal.final:
            await self.socket.send(protocol.rate_limited_frame(retry_after=refusal.retry_after, op_id=op_id))
            return
        logger.warning(
            "closed session %s (client %s): over its limits after being told to slow down",
            self.session_id,
            self.client_address,
        )
        await self._close(
            protocol.error_frame("rate-limited", "too many frames over the limits; closing", op_id),
            protocol.CLOSE_POLICY_VIOLATION,
        )

    async def _close(self, frame: str, code: int) -> None:
        """Say why in a last frame, and close; nothing more is read or sent."""
        await self.socket.send(frame)
        self.closing = True
        await self.socket.close(code)

    async def _receive_op(self, request: protocol.OpRequest) -> None:
        for _ in range(ACCESS_RETRIES):
            if not self.access.can_edit:
                await self.socket.send(
                    protocol.error_frame("read-only", self._why_read_only(), request.op_id)
                )
                return
            edit = Edit(
                slug=self.slug,
                base_rev=request.rev,
                op=request.op,
                op_id=request.op_id,
                session_id=self.session_id,
                access_rev=self.access.rev,
            )
            try:
                accepted = await self.worker.committer.submit(edit)  # committed, and broadcast to the others
                break
            except EditRejected as error:
                if error.code != EditRejected.ACCESS_CHANGED:
                    await self.socket.send(protocol.error_frame(error.code, error.message, request.op_id))
                    return
            await self._follow_access_now()
            if self.closing:
                return
        else:
            # Not applied: the resume on a new connection says so (protocol.md, internal-error).
            logger.warning("rights on %s kept changing under edit %s", self.slug, request.op_id)
            message = "the rights on this document kept changing; the edit was not applied"
            await self.socket.send(protocol.error_frame("internal-error", message, request.op_id))
            return
        await self.socket.send(protocol.ack_frame(rev=accepted.operation.rev, op_id=request.op_id))
        if not accepted.duplicate:
            self.ops_sent += 1

    async def _receive_rename(self, request: protocol.RenameRequest) -> None:
        if self.user_id is not None:
            await self.socket.send(
                protocol.error_frame("rename-refused", "signed-in people are shown by their user name")
            )
            return
        if time.monotonic() - self._renamed_at < RENAME_INTERVAL:
            await self.socket.send(protocol.error_frame("rename-too-fast", "one rename per second, please"))
            return
        self._renamed_at = time.monotonic()
        self.name, self.color = request.name, names.color_for(request.name)
        await in_thread_pool(services.session_rename)(session_id=self.session_id, display_name=self.name)
        frame = self.person_frame()
        await self.socket.send(frame)  # the renamer learns its new colour at once
        self.worker.hub.presence_changed(self.slug, self.session_id, frame)

    async def _receive_fetch(self, request: protocol.FetchRequest) -> None:
        """A client saw a gap in the revisions (a lost or late broadcast) and asks to fill it."""
        document_id = self.document_id
        missed = await in_thread_pool(documents.operations_since)(document_id=document_id, rev=request.rev)
        if missed is not None:
            await self._send_logged(missed)
            return
        snapshot = await in_thread_pool(documents.snapshot)(document_id=document_id)
        people = await in_thread_pool(selectors.document_people_count)(document_id=document_id)
        welcome = self._welcome(people=people)
        await self.socket.send(protocol.snapshot_frame(rev=snapshot.rev, text=snapshot.text, welcome=welcome))

    async def _receive_save_version(self, request: protocol.SaveVersionRequest) -> None:
        """A name for a revision: an editor's to give, like an edit (and, like an edit's,
        under the rights the document has now, not only those this connection was told of)."""
        _, access_rev = await in_thread_pool(documents.head_and_access_rev)(document_id=self.document_id)
        if access_rev != self.access.rev:
            await self._follow_access_now()
        if self.closing:
            return
        if not self.access.can_edit:
            await self.socket.send(protocol.error_frame("read-only", self._why_read_only()))
            return
        try:
            await in_thread_pool(services.save_version)(
                document_id=self.document_id,
                rev=request.rev,
                name=request.name,
                user_id=self.user_id,
                by=self.name,
            )
        except history.Future as future:
            await self.socket.send(self._missing_revision(future))
            return
        except services.TooManyVersions as too_many:
            await self.socket.send(protocol.error_frame("too-many-versions", str(too_many)))
            return
        await self._receive_history(request.rev)

    async def _receive_revert(self, request: protocol.RevertRequest) -> None:
        """The edit that takes back some authors' edits, for the page to make as its own (so
        it is undoable there, and rebased like typing): an editor's to ask for."""
        if not self.access.can_edit:
            await self.socket.send(protocol.error_frame("read-only", self._why_read_only()))
            return
        sessions = await in_thread_pool(selectors.sessions_of_authors)(
            document_id=self.document_id, authors=request.authors
        )
        try:
            async with self.worker.history_reads:
                correction = await in_thread_pool(history.reverting)(
                    document_id=self.document_id,
                    session_ids=sessions,
                    since=request.since,
                    until=request.until,
                )
        except history.Forgotten as forgotten:
            await self.socket.send(self._missing_revision(forgotten))
            return
        await self.socket.send(
            protocol.revert_frame(rev=correction.head, op=correction.op, authors=request.authors)
        )

    async def _receive_diff(self, request: protocol.DiffRequest) -> None:
        """What changed between two revisions, by whom: readable by whoever may read the text."""
        try:
            async with self.worker.history_reads:
                comparison = await in_thread_pool(history.comparison)(
                    document_id=self.document_id, start=request.start, end=request.end
                )
        except (history.Forgotten, history.Future) as missing:
            await self.socket.send(self._missing_revision(missing))
            return
        pieces, authors = await in_thread_pool(selectors.described_changes)(
            comparison.change, comparison.old.text
        )
        frame = protocol.diff_frame(start=request.start, end=request.end, changes=pieces, authors=authors)
        await self.socket.send(frame)

    @staticmethod
    def _missing_revision(missing: history.Forgotten | history.Future) -> str:
        """The error frame for a revision before the history starts, or after the head."""
        if isinstance(missing, history.Forgotten):
            return protocol.error_frame("history-forgotten", str(missing), start=missing.start)
        return protocol.error_frame("future-revision", str(missing), head=missing.head)

    async def _receive_history(self, rev: int) -> None:
        """The timeslider asks for an old revision: readable by whoever may read the text."""
        try:
            found = await in_thread_pool(history.revision)(document_id=self.document_id, rev=rev)
        except (history.Forgotten, history.Future) as missing:
            await self.socket.send(self._missing_revision(missing))
            return
        runs, authors = await in_thread_pool(selectors.authorship_by_author)(found.authorship)
        named = await in_thread_pool(selectors.versions)(
            document_id=self.document_id, most=protocol.MOST_VERSIONS_SHOWN
        )
        frame = protocol.history_frame(
            rev=found.rev, text=found.text, authorship=runs, authors=authors, versions=named
        )
        await self.socket.send(frame)

    async def _receive_ping(self) -> None:
        rev, access_rev = await in_thread_pool(documents.head_and_access_rev)(document_id=self.document_id)
        if access_rev != self.access.rev:
            # A change of rights this connection was not told of (its message
            # lost while Redis was away, or its read failed): read them now.
            self.access_changed()
        await self.socket.send(protocol.pong_frame(rev=rev))

    async def _send_logged(self, operations) -> None:
        for logged in operations:
            frame = protocol.op_frame(
                rev=logged.rev, op=logged.op, session=logged.session_id, op_id=logged.op_id
            )
            await self.socket.send(frame)

    def _welcome(self, *, people: int) -> protocol.Welcome:
        return protocol.Welcome(
            session=self.session_id,
            person=self.person,
            name=self.name,
            color=self.color,
            people=people,
            mode=self._mode(),
        )

    def _mode(self) -> protocol.Mode:
        access = self.access
        return protocol.Mode(role=access.role.value_name, locked=access.locked, read_only=not access.can_edit)

    def _why_read_only(self) -> str:
        if self.access.role < Role.EDITOR:
            return "you can view this document, not edit it"
        return EditRejected.read_only().message

    # Rights: read again whenever the hub says they changed.

    def access_changed(self) -> None:
        """Who may do what changed (live/hub.py): read this connection's rights again, soon.

        Changes that arrive while a read is under way are followed by one
        more read, so the last read always starts after the last change.
        """
        if self.access is None or self.closing:
            self._access_changes += 1
            return  # connecting: _start reads them again if needed
        self._read_access_again()

    async def _follow_access_now(self) -> None:
        """Read the rights again now, and wait until they are applied."""
        await asyncio.shield(self._read_access_again())

    def _read_access_again(self) -> asyncio.Task:
        """Count a change, and start the follower that reads the rights unless one runs."""
        self._access_changes += 1
        if self._access_follower is None or self._access_follower.done():
            self._access_follower = asyncio.get_running_loop().create_task(self._follow_access())
        return self._access_follower

    async def _follow_access(self) -> None:
        applied = -1
        while applied != self._access_changes and not self.closing:
            applied = self._access_changes
            try:
                access = await in_thread_pool(grants.access_for)(
                    document_id=self.document_id, visitor=self.visitor
                )
            except Exception as error:
                # The database is away: keep the rights known (edits are checked
                # again at their commit anyway); the next ping compares access_rev.
                if database_unavailable(error):
                    logger.warning("could not read the rights of session %s: %s", self.session_id, error)
                else:
                    logger.exception("could not read the rights of session %s", self.session_id)
                return
            await self._apply_access(access)

    async def _apply_access(self, access: Access) -> None:
        before, self.access = self.access, access
        if not access.can_view:
            logger.info("closing session %s on %s: %s", self.session_id, self.slug, access.reason)
            message = f"You no longer have access to this document: {access.reason}."
            await self._close(protocol.error_frame("forbidden", message), protocol.CLOSE_FORBIDDEN)
            return
        if (access.role, access.locked) != (before.role, before.locked):
            await self.deliver(EncodedFrame(protocol.mode_frame(self._mode())))
        if access.role != before.role:
            self.worker.hub.presence_changed(self.slug, self.session_id, self.person_frame())

    def _who(self) -> dict:
        """This connection's person, as webhooks tell of them."""
        return {"session": self.session_id, "name": self.name, "signed_in": self.user_id is not None}

    def _log(self, event: str, people: int) -> None:
        logger.info(
            "%s doc=%s session=%s client=%s worker=%s people=%d",
            event,
            self.slug,
            self.session_id,
            self.client_address,
            settings.WORKER_ID,
            people,
        )

    # What the hub and the liveness task call (live/hub.py Member, live/liveness.py LiveSession).

    @property
    def connected(self) -> bool:
        return not self.closing and not self.socket.closed()

    @property
    def present(self) -> bool:
        # In the hub before its rights are read (so no broadcast falls between
        # the two), but not shown to anyone until they are: a refused
        # connection never appears in anyone's list of people.
        return self.access is not None and self.access.can_view and self.connected

    def person_frame(self) -> str:
        self._person_seq += 1
        return protocol.person_frame(
            session=self.session_id,
            person=self.person,
            seq=self._person_seq,
            name=self.name,
            color=self.color,
            caret=self.caret,
            rev=self.caret_rev,
            signed_in=self.user_id is not None,
            role=self.access.role.value_name if self.access is not None else "viewer",
        )

    async def deliver(self, frame: EncodedFrame) -> None:
        if self._held is not None:
            self._held.append(frame)
        elif not self.closing:
            await self.socket.send(frame)

    async def announce(self) -> None:
        """Tell the document again that this session is here (after expiry wrongly closed it)."""
        if not self.closing:
            self.worker.hub.presence_changed(self.slug, self.session_id, self.person_frame())

    def relay_changed(self, carried: bool) -> None:
        """The channel layer stopped, or started again, carrying other workers' edits (live/hub.py)."""
        if not self.present:
            return
        task = asyncio.get_running_loop().create_task(self._relay_changed(carried))
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._tasks.discard)

    async def _relay_changed(self, carried: bool) -> None:
        if carried:
            # Broadcasts may have been lost meanwhile: first the head (a pong),
            # so that the client fetches what it lacks, and the rights.
            try:
                await self._receive_ping()
            except Exception as error:
                logger.warning("session %s: could not check its revision: %s", self.session_id, error)
        await self.socket.send(protocol.relay_frame(carried=carried))

    async def restart(self) -> None:
        """This worker is shutting down (live/worker.py drain): the browser reconnects at once."""
        if not self.closing:
            self.closing = True
            await self.socket.close(protocol.CLOSE_SERVICE_RESTART)

    async def kick(self, reason: str) -> None:
        """An operator closed this session (admin action), from whichever process."""
        message = f"An operator disconnected you: {reason}" if reason else "An operator disconnected you."
        await self._close(protocol.error_frame("disconnected", message), protocol.CLOSE_DISCONNECTED)


class ProbeConsumer(AsyncWebsocketConsumer):
    """/ws/probe/: accepted and closed with 1000 at once. A client on the fallback transport
    opens it now and then to learn whether WebSockets get through again (docs/protocol.md)."""

    channel_layer_alias = None

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=1000)


class UnknownEndpointConsumer(AsyncWebsocketConsumer):
    """Any other /ws/ path: say so in a frame and close with 4404, instead of a 500."""

    channel_layer_alias = None

    async def connect(self) -> None:
        await self.accept()
        await self.send(
            text_data=protocol.error_frame(
                "unknown-document",
                "no such endpoint; documents live at /ws/docs/<slug>/ with slug [A-Za-z0-9_-]{1,64}",
            )
        )
        await self.close(code=protocol.CLOSE_UNKNOWN_ENDPOINT)
