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

from . import messages
from .hub import document_group

logger = logging.getLogger(__name__)


async def _send(each: Iterable[messages.Message]) -> None:
    layer = get_channel_layer()
    for message in each:
        group = document_group(message["slug"])
        try:
            await layer.group_send(group, message)
        except Exception:
            logger.exception("could not notify %s", group)


async def people_left(departures: Iterable[tuple[str, str]]) -> None:
    """(slug, session id) pairs: tell each document who left."""
    by_slug: dict[str, list[str]] = {}
    for slug, session_id in departures:
        by_slug.setdefault(slug, []).append(protocol.leave_frame(session=session_id))
    await _send(messages.hub_frames(slug, protocol.batch_frame(frames)) for slug, frames in by_slug.items())


async def access_changed(slugs: Iterable[str]) -> None:
    """Rights or an operator's lock changed: each connection reads what it may do, and is told."""
    await _send(messages.hub_access(slug) for slug in slugs)


async def disconnect(sessions: Iterable[tuple[str, str]], reason: str) -> None:
    """(slug, session id) pairs: close those connections, on whichever process holds them."""
    await _send(messages.hub_kick(slug, session=session_id, reason=reason) for slug, session_id in sessions)


def documents_access_changed(slugs: Iterable[str]) -> None:
    async_to_sync(access_changed)(list(slugs))


def sessions_disconnect(sessions: Iterable[tuple[str, str]], reason: str) -> None:
    async_to_sync(disconnect)(list(sessions), reason)
