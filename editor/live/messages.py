"""Every message the channel layer carries between this editor's processes, defined once.

A message's ``type`` names the method that handles it, as in Channels
(``hub.ops`` is handled by ``Hub.hub_ops``), and each type has one
constructor here, named the same, used by whoever sends it: the hub
(edits, presence, who-is-here) and notify.py (admin actions, expiry, rights).
Every message carries the document's ``slug``;
``origin``, where present, is the sending process's hub channel, so that a
hub skips its own broadcasts (its local members had them already).

Workers of different versions must understand each other's messages: a
change here is an upgrade note in the README.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def hub_ops(slug: str, ops: list[tuple[str, str]], *, origin: str) -> Message:
    """Committed edits as (frame, author session) in revision order, for everyone but each one's
    author (authors get acks)."""
    return {"type": "hub.ops", "slug": slug, "ops": ops, "origin": origin}


def hub_frames(slug: str, frame: str, *, origin: str | None = None, to: str | None = None) -> Message:
    """A frame for everyone on the document, or only for the session ``to``."""
    message = {"type": "hub.frames", "slug": slug, "frame": frame, "origin": origin}
    if to is not None:
        message["to"] = to
    return message


def hub_query(slug: str, *, session: str, reply_to: str, origin: str) -> Message:
    """A newcomer (``session``) asks every process who is here; answers go to ``reply_to``."""
    return {"type": "hub.query", "slug": slug, "session": session, "reply_to": reply_to, "origin": origin}


def hub_kick(slug: str, *, session: str, reason: str) -> Message:
    """An operator disconnects ``session``, on whichever process holds it."""
    return {"type": "hub.kick", "slug": slug, "session": session, "reason": reason}


def hub_ping(token: str) -> Message:
    """A process's hub to itself through the channel layer: is the layer carrying messages?
    (/readyz). About no document: ``slug`` is empty."""
    return {"type": "hub.ping", "slug": "", "token": token}


def hub_access(slug: str) -> Message:
    """Who may do what on the document changed: every connection to it reads its rights again."""
    return {"type": "hub.access", "slug": slug}


def hub_call(request: dict, *, reply_to: str, token: str) -> Message:
    """A request for something another process holds (a fallback session, live/fallback.py);
    its answer goes to ``reply_to`` as a ``hub.answer`` with the same ``token``. About no
    document: ``slug`` is empty."""
    return {"type": "hub.call", "slug": "", "request": request, "reply_to": reply_to, "token": token}


def hub_answer(token: str, answer: dict) -> Message:
    """The answer to the ``hub.call`` with this ``token``."""
    return {"type": "hub.answer", "slug": "", "token": token, "answer": answer}
