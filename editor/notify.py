"""Telling connected clients about changes made outside their own connection.

Consumers broadcast their own events; this module is for everyone else: the
admin (sync), the management command (sync) and the worker's liveness task
(async). Every message goes through the channel layer, so it reaches
connections on every worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from . import protocol

logger = logging.getLogger(__name__)

# Close code for a connection an operator disconnected; the browser does not
# reconnect after it (RFC 6455 leaves 4000-4999 to applications).
CLOSE_DISCONNECTED = 4001


def document_group(slug: str) -> str:
    """The channel-layer group of everyone connected to one document."""
    return f"doc.{slug}"


def mode_event(read_only: bool) -> dict:
    return {"type": "editor.mode", "read_only": read_only, "frame": protocol.mode_frame(read_only=read_only)}


def leave_event(session_id: str) -> dict:
    return {"type": "editor.leave", "session": session_id, "frame": protocol.leave_frame(session=session_id)}


def people_event(people: int) -> dict:
    return {"type": "editor.presence", "frame": protocol.presence_frame(people=people)}


def disconnect_event(reason: str) -> dict:
    return {"type": "editor.disconnect", "reason": reason}


async def send_to_groups(messages: Iterable[tuple[str, dict]]) -> None:
    """(slug, event) pairs to the documents' groups; a layer outage is logged, not raised."""
    layer = get_channel_layer()
    for slug, event in messages:
        try:
            await layer.group_send(document_group(slug), event)
        except Exception:
            logger.exception("could not notify %s", document_group(slug))


async def send_to_channels(channel_names: Iterable[str], event: dict) -> None:
    layer = get_channel_layer()
    for channel_name in channel_names:
        try:
            await layer.send(channel_name, event)
        except Exception:
            logger.exception("could not reach %s", channel_name)


def documents_mode_changed(slugs: Iterable[str], read_only: bool) -> None:
    async_to_sync(send_to_groups)((slug, mode_event(read_only)) for slug in slugs)


def sessions_disconnect(channel_names: Iterable[str], reason: str) -> None:
    async_to_sync(send_to_channels)(channel_names, disconnect_event(reason))
