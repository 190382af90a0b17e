"""The client side of the protocol, for Python tools that act as browser tabs.

Tests and the load generator speak the real frames through this class; the
browser's twin is ``static/editor/client.js``, with the same states:
synchronised, awaiting ack (``outstanding``), awaiting ack with ``buffer``.
Methods return the frames to send, so the caller owns the socket. Pure.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .. import ot

Frame = dict[str, Any]


@dataclass(slots=True)
class Pending:
    op_id: str
    op: ot.Operation
    # The revision its ack gave, when that ack arrived before a revision it waits for and was
    # then set aside (a snapshot, a reconnect): the edit is known to be applied.
    applied_at: int | None = None


class ProtocolClient:
    def __init__(self, id_prefix: str | None = None) -> None:
        # Random ids by default: ids are broadcast, and one another client
        # could predict would let it pre-empt our next edit. A prefix gives
        # readable ``prefix:1``, ``prefix:2`` ids for tests.
        if id_prefix is None:
            self._ids = (secrets.token_hex(16) for _ in itertools.count())
        else:
            self._ids = (f"{id_prefix}:{n}" for n in itertools.count(1))
        self.rev: int | None = None  # last revision applied
        self.server_text = ""  # the document at ``rev``
        self.text = ""  # what this client shows: server_text + outstanding + buffer
        self.outstanding: Pending | None = None
        self.buffer: ot.Operation | None = None
        self.early: dict[int, Frame] = {}  # revision -> frame that came before its predecessor
        self.known_head = 0  # highest revision the server said exists (pong)
        self.live = False
        self.needs_reconnect = False  # the caller should drop the socket and resume
        self.session: str | None = None
        self.acknowledged: list[str] = []  # ids of our operations the server confirmed, in order
        # Over the server's limits, our edit was dropped: call retry() after retry_after ms.
        self.dropped: str | None = None
        self.retry_after: int | None = None

    @property
    def state(self) -> str:
        if self.outstanding is None:
            return "synchronised"
        return "awaiting-ack-with-buffer" if self.buffer is not None else "awaiting-ack"

    @property
    def has_gap(self) -> bool:
        """A revision we know of has not arrived: worth a ``fetch``."""
        return bool(self.early) or (self.rev is not None and self.known_head > self.rev)

    def resume_query(self) -> str:
        """Query string of the socket URL: resume after our revision, naming our pending edit."""
        if self.rev is None:
            return ""
        pending = f"&pending={quote(self.outstanding.op_id)}" if self.outstanding is not None else ""
        return f"?rev={self.rev}{pending}"

    def disconnected(self) -> None:
        self.live = False
        self.needs_reconnect = False
        self._forget_early()

    def _forget_early(self) -> None:
        """Drop the frames waiting for their predecessors, remembering our edit's ack if it is one."""
        for frame in self.early.values():
            if frame["type"] == "ack" and self.outstanding and frame.get("id") == self.outstanding.op_id:
                self.outstanding.applied_at = frame["rev"]
        self.early.clear()

    def _knows_outstanding_applied(self) -> bool:
        """Our outstanding edit's ack came, though it waits (or waited) for a revision before it."""
        if self.outstanding.applied_at is not None:
            return True
        return any(f["type"] == "ack" and f.get("id") == self.outstanding.op_id for f in self.early.values())

    def fetch_frame(self) -> Frame:
        return {"type": "fetch", "rev": self.rev}

    def local_edit(self, op: ot.Operation) -> list[Frame]:
        """Record an edit made to ``text``; returns the frame to send, if any."""
        if ot.is_noop(op):
            return []
        self.text = ot.apply(self.text, op)
        if self.outstanding is not None:
            self.buffer = op if self.buffer is None else ot.compose(self.buffer, op)
            return []
        self.outstanding = Pending(next(self._ids), op)
        return [self._outstanding_frame()] if self.live else []

    def receive(self, frame: Frame) -> list[Frame]:
        """Handle one frame from the server; returns frames to send in reply."""
        kind = frame.get("type")
        if kind == "batch":
            return [send for inner in frame["frames"] for send in self.receive(inner)]
        if kind == "snapshot":
            return self._receive_snapshot(frame)
        if kind == "resume":
            self.session = frame["session"]
            return self._go_live()
        if kind in ("op", "ack"):
            return self._receive_revision(frame)
        if kind == "pong" and self.rev is not None:
            self.known_head = max(self.known_head, frame.get("rev", 0))
        if kind == "relay" and frame.get("ok") and self.has_gap and self.live:
            return [self.fetch_frame()]  # back after an outage: what we lack was lost, not late
        if kind == "error" and frame.get("code") == "rate-limited":
            self.dropped, self.retry_after = frame.get("id"), frame.get("retry_after", 1000)
            return []
        if kind == "error" and self.outstanding and frame.get("id") == self.outstanding.op_id:
            if frame.get("code") in ("stale-revision", "internal-error"):
                # Too old for the server to merge, or its fate unknown: reconnect,
                # and the resume says what became of it and brings it up to date.
                self.needs_reconnect = True
            else:
                self._reject_pending()
                if self.outstanding is not None and self.live:
                    return [self._outstanding_frame()]
        return []

    def retry(self) -> list[Frame]:
        """What to send ``retry_after`` ms after a ``rate-limited``: the dropped edit, if still pending."""
        dropped, self.dropped, self.retry_after = self.dropped, None, None
        if self.live and self.outstanding is not None and self.outstanding.op_id == dropped:
            return [self._outstanding_frame()]
        return []

    def _receive_snapshot(self, frame: Frame) -> list[Frame]:
        if self.live and self.outstanding is not None and not self._knows_outstanding_applied():
            # The answer to a fetch, while our edit is in flight on this very
            # connection: its fate is unknown, so rebasing it here could apply
            # it twice. Reconnecting makes the server tell us what became of it.
            self.needs_reconnect = True
            return []
        self._forget_early()
        self.session = frame["session"]
        if self.rev is None:
            self.rev, self.server_text, self.text = frame["rev"], frame["text"], frame["text"]
        else:
            # History since our revision is gone: rebase pending edits on the
            # difference between the text we knew and the text now. If the
            # server says our outstanding edit was applied, it is part of both.
            pending = frame.get("pending") or {}
            if self.outstanding and (
                self.outstanding.applied_at is not None
                or (pending.get("id") == self.outstanding.op_id and pending.get("rev") is not None)
            ):
                self.acknowledged.append(self.outstanding.op_id)
                self.server_text = ot.apply(self.server_text, self.outstanding.op)
                self.outstanding = Pending(next(self._ids), self.buffer) if self.buffer is not None else None
                self.buffer = None
            elif self.outstanding is not None:
                # Not applied, or applied too long ago to be recognised; once
                # rebased it is a different edit, so it gets a new id.
                self.outstanding.op_id = next(self._ids)
            change = ot.from_diff(self.server_text, frame["text"])
            self._apply_revision({"type": "op", "rev": frame["rev"], "op": change})
        return self._go_live()

    def _go_live(self) -> list[Frame]:
        self.live = True
        return [self._outstanding_frame()] if self.outstanding is not None else []

    def _outstanding_frame(self) -> Frame:
        return {"type": "op", "rev": self.rev, "op": self.outstanding.op, "id": self.outstanding.op_id}

    def _reject_pending(self) -> None:
        """Take the refused edit back; keep the buffer, rebased on the server's text."""
        undo = ot.invert(self.outstanding.op, self.server_text)
        buffer, self.outstanding, self.buffer = self.buffer, None, None
        self.text = self.server_text
        if buffer is not None:
            rebased, _ = ot.transform(buffer, undo)
            self.text = ot.apply(self.server_text, rebased)
            self.outstanding = Pending(next(self._ids), rebased)

    def _receive_revision(self, frame: Frame) -> list[Frame]:
        if self.rev is None or frame["rev"] <= self.rev:
            return []  # already applied: a resend, or a crossing of catch-up and broadcast
        if frame["rev"] not in self.early or frame["type"] == "ack":
            self.early[frame["rev"]] = frame
        sends: list[Frame] = []
        while self.rev + 1 in self.early:
            sends.extend(self._apply_revision(self.early.pop(self.rev + 1)))
        return sends

    def _apply_revision(self, frame: Frame) -> list[Frame]:
        ours = self.outstanding is not None and frame.get("id") == self.outstanding.op_id
        if frame["type"] == "ack" and not ours:
            raise ValueError(f"acknowledgement of {frame.get('id')} at {frame['rev']}, but it is not pending")
        if ours:
            self.acknowledged.append(self.outstanding.op_id)
            self.server_text = ot.apply(self.server_text, self.outstanding.op)
            self.rev = frame["rev"]
            self.outstanding = Pending(next(self._ids), self.buffer) if self.buffer is not None else None
            self.buffer = None
            return [self._outstanding_frame()] if self.outstanding is not None and self.live else []
        remote = frame["op"]
        self.server_text = ot.apply(self.server_text, remote)
        self.rev = frame["rev"]
        if self.outstanding is not None:
            self.outstanding.op, remote = ot.transform(self.outstanding.op, remote)
        if self.buffer is not None:
            self.buffer, remote = ot.transform(self.buffer, remote)
        self.text = ot.apply(self.text, remote)
        return []
