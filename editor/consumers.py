"""WebSocket consumers: decode frames, call services, send and broadcast results."""

from __future__ import annotations

import logging
import secrets

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import protocol, selectors, services
from .engine import EditRejected

logger = logging.getLogger(__name__)

# Close codes in the 4000-4999 range are ours (RFC 6455, section 7.4.2).
CLOSE_UNKNOWN_ENDPOINT = 4404


def document_group(slug: str) -> str:
    """The channel-layer group of everyone connected to one document."""
    return f"doc.{slug}"


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _client_address(scope: dict) -> str:
    client = scope.get("client")
    if not client:
        return ""
    host, port = client
    return f"{host}:{port}"


class DocumentConsumer(AsyncWebsocketConsumer):
    """One browser tab editing one document.

    Each connection joins the document's group; accepted edits are
    acknowledged to their author and broadcast to the group as one
    pre-encoded frame that every other connection forwards unchanged.
    """

    session_start: services.SessionStart | None = None

    async def connect(self) -> None:
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        self.group_name = document_group(self.slug)
        self.session_id = secrets.token_hex(6)
        self.client_address = _client_address(self.scope)
        # Join before reading the document: an edit committed after the read
        # then arrives as a broadcast, so nothing falls between the two.
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        resume_rev, pending_id = protocol.parse_resume_query(self.scope.get("query_string", b""))
        start = await database_sync_to_async(services.session_connect)(
            slug=self.slug,
            session_id=self.session_id,
            client_address=self.client_address,
            user_agent=_header(self.scope, b"user-agent"),
            worker=settings.WORKER_ID,
            resume_rev=resume_rev,
            pending_id=pending_id,
        )
        self.session_start = start
        if start.missed is None:
            await self.send(
                text_data=protocol.snapshot_frame(
                    rev=start.rev,
                    text=start.text,
                    session=self.session_id,
                    people=start.people,
                    pending_id=pending_id,
                    pending_rev=start.pending_rev,
                )
            )
        else:
            await self.send(
                text_data=protocol.resume_frame(rev=start.rev, session=self.session_id, people=start.people)
            )
            await self._send_logged(start.missed)
        self._log("connect", start.people)
        await self._broadcast_presence(start.people)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes; a killed worker never gets here."""
        await self.channel_layer.group_discard(self.group_name, self.channel_name)
        if self.session_start is None:
            return
        people = await database_sync_to_async(services.session_disconnect)(
            session_id=self.session_id, document_id=self.session_start.document_id
        )
        self._log("disconnect", people)
        await self._broadcast_presence(people)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            request = protocol.parse_client_frame(
                text_data, bytes_data, max_bytes=settings.EDITOR_MAX_FRAME_BYTES
            )
        except protocol.ProtocolError as error:
            await self.send(text_data=protocol.error_frame(error.code, error.message, error.op_id))
            return
        try:
            if isinstance(request, protocol.OpRequest):
                await self._receive_op(request)
            elif isinstance(request, protocol.FetchRequest):
                await self._receive_fetch(request)
            else:
                await self._receive_ping()
        except Exception:
            # One bad frame must not cost the connection (and leave its
            # session looking connected): report it and carry on.
            logger.exception(
                "failed to handle a %s frame in session %s", type(request).__name__, self.session_id
            )
            await self.send(
                text_data=protocol.error_frame("internal-error", "the server failed to handle that frame")
            )

    async def _receive_op(self, request: protocol.OpRequest) -> None:
        try:
            accepted = await database_sync_to_async(services.document_apply_operation)(
                slug=self.slug,
                base_rev=request.rev,
                op=request.op,
                op_id=request.op_id,
                session_id=self.session_id,
            )
        except EditRejected as error:
            await self.send(text_data=protocol.error_frame(error.code, error.message, request.op_id))
            return
        operation = accepted.operation
        await self.send(text_data=protocol.ack_frame(rev=operation.rev, op_id=operation.op_id))
        if not accepted.duplicate:
            frame = protocol.op_frame(
                rev=operation.rev, op=operation.op, session=operation.session_id, op_id=operation.op_id
            )
            await self._broadcast({"type": "editor.operation", "frame": frame, "session": self.session_id})

    async def _receive_ping(self) -> None:
        rev = await database_sync_to_async(selectors.document_head)(
            document_id=self.session_start.document_id
        )
        await self.send(text_data=protocol.pong_frame(rev=rev))

    async def _broadcast(self, event: dict) -> None:
        """Send to the document's group; a channel layer outage costs only the broadcast.

        The edit is committed and acknowledged by then, and clients that miss
        it find the gap (the next revision or the head in ``pong``) and fetch it.
        """
        try:
            await self.channel_layer.group_send(self.group_name, event)
        except Exception:
            logger.exception("broadcast to %s failed", self.group_name)

    async def _receive_fetch(self, request: protocol.FetchRequest) -> None:
        """A client saw a gap in the revisions (a lost or late broadcast) and asks to fill it."""
        document_id = self.session_start.document_id
        missed = await database_sync_to_async(selectors.document_operations_since)(
            document_id=document_id, rev=request.rev
        )
        if missed is not None:
            await self._send_logged(missed)
            return
        snapshot = await database_sync_to_async(selectors.document_snapshot)(document_id=document_id)
        await self.send(
            text_data=protocol.snapshot_frame(
                rev=snapshot.rev, text=snapshot.text, session=self.session_id, people=snapshot.people
            )
        )

    async def _send_logged(self, operations) -> None:
        for logged in operations:
            await self.send(
                text_data=protocol.op_frame(
                    rev=logged.rev, op=logged.op, session=logged.session_id, op_id=logged.op_id
                )
            )

    async def _broadcast_presence(self, people: int) -> None:
        await self._broadcast({"type": "editor.presence", "frame": protocol.presence_frame(people=people)})

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

    # Group message handlers, named after the event's "type".

    async def editor_operation(self, event: dict) -> None:
        if event["session"] != self.session_id:
            await self.send(text_data=event["frame"])

    async def editor_presence(self, event: dict) -> None:
        await self.send(text_data=event["frame"])


class UnknownEndpointConsumer(AsyncWebsocketConsumer):
    """Any other /ws/ path: say so in a frame and close with 4404, instead of a 500."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(
            text_data=protocol.error_frame(
                "unknown-document",
                "no such endpoint; documents live at /ws/docs/<slug>/ with slug [A-Za-z0-9_-]{1,64}",
            )
        )
        await self.close(code=CLOSE_UNKNOWN_ENDPOINT)
