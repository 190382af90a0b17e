"""Telling connected clients about changes made outside their own connection.

Consumers publish their own events through the hub; this module is for
everyone else: the admin and the management command (sync wrappers), and
the liveness task. Messages go to the documents' groups on the channel
layer, where the hub of every process serving the document picks them up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from editor.wire import protocol

from .hub import document_group

logger = logging.getLogger(__name__)

# Close code for a connection an operator disconnected; the browser does not
# reconnect after it (RFC 6455 leaves 4000-4999 to applications).
CLOSE_DISCONNECTED = 4001


async def _send(messages: Iterable[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    for slug, message in messages:
        try:
            await layer.group_send(document_group(slug), {"slug": slug, **message})
        except Exception:
            logger.exception("could not notify %s", document_group(slug))


async def people_left(departures: Iterable[tuple[str, str]]) -> None:
    """(slug, session id) pairs: tell each document who left."""
    by_slug: dict[str, list[str]] = {}
    for slug, session_id in departures:
        by_slug.setdefault(slug, []).append(protocol.leave_frame(session=session_id))
    await _send(
        (slug, {"type": "hub.frames", "frame": protocol.batch_frame(frames)})
        for slug, frames in by_slug.items()
    )


async def mode_changed(slugs: Iterable[str], read_only: bool) -> None:
    frame = protocol.mode_frame(read_only=read_only)
    await _send((slug, {"type": "hub.frames", "frame": frame}) for slug in slugs)


async def disconnect(sessions: Iterable[tuple[str, str]], reason: str) -> None:
    """(slug, session id) pairs: close those connections, on whichever process holds them."""
    await _send(
        (slug, {"type": "hub.kick", "session": session_id, "reason": reason}) for slug, session_id in sessions
    )


def documents_mode_changed(slugs: Iterable[str], read_only: bool) -> None:
    async_to_sync(mode_changed)(list(slugs), read_only)


def sessions_disconnect(sessions: Iterable[tuple[str, str]], reason: str) -> None:
    async_to_sync(disconnect)(list(sessions), reason)
