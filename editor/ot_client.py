"""The client side of the protocol, for Python tools that act as browser tabs.

Tests and the load generator speak the real frames through this class; the
browser's twin is ``static/editor/client.js``, with the same states:
synchronised, awaiting ack (``outstanding``), awaiting ack with ``buffer``.
Methods return the frames to send, so the caller owns the socket. Pure.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from . import ot

Frame = dict[str, Any]


@dataclass(slots=True)
class Pending:
    op_id: str
    op: ot.Operation


class ProtocolClient:
    def __init__(self, id_prefix: str | None = None) -> None:
        prefix = id_prefix or uuid.uuid4().hex
        self._ids = (f"{prefix}:{n}" for n in itertools.count(1))
        self.rev: int | None = None  # last revision applied
        self.server_text = ""  # the document at ``rev``
        self.text = ""  # what this client shows: server_text + outstanding + buffer
        self.outstanding: Pending | None = None
        self.buffer: ot.Operation | None = None
        self.early: dict[int, Frame] = {}  # revision -> frame that came before its predecessor
        self.live = False
        self.needs_reconnect = False  # the caller should drop the socket and resume
        self.session: str | None = None
        self.acknowledged: list[str] = []  # ids of our operations the server confirmed, in order

    @property
    def state(self) -> str:
        if self.outstanding is None:
            return "synchronised"
        return "awaiting-ack-with-buffer" if self.buffer is not None else "awaiting-ack"

    @property
    def has_gap(self) -> bool:
        """Frames wait for a revision that has not arrived: worth a ``fetch``."""
        return bool(self.early)

    def resume_query(self) -> str:
        """Query string of the socket URL: resume after our revision, naming our pending edit."""
        if self.rev is None:
            return ""
        pending = f"&pending={quote(self.outstanding.op_id)}" if self.outstanding is not None else ""
        return f"?rev={self.rev}{pending}"

    def disconnected(self) -> None:
        self.live = False
        self.needs_reconnect = False
        self.early.clear()

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
        if kind == "snapshot":
            return self._receive_snapshot(frame)
        if kind == "resume":
            self.session = frame["session"]
            return self._go_live()
        if kind in ("op", "ack"):
            return self._receive_revision(frame)
        if kind == "error" and self.outstanding and frame.get("id") == self.outstanding.op_id:
            if frame.get("code") == "stale-revision":
                # Not applied, and too old for the server to merge: reconnect,
                # and the resume decides how to bring it up to date.
                self.needs_reconnect = True
            else:
                self._reject_pending()
        return []

    def _receive_snapshot(self, frame: Frame) -> list[Frame]:
        if self.live and self.outstanding is not None:
            # The answer to a fetch, while our edit is in flight on this very
            # connection: its fate is unknown, so rebasing it here could apply
            # it twice. Reconnecting makes the server tell us what became of it.
            self.needs_reconnect = True
            return []
        self.session = frame["session"]
        self.early.clear()
        if self.rev is None:
            self.rev, self.server_text, self.text = frame["rev"], frame["text"], frame["text"]
        else:
            # History since our revision is gone: rebase pending edits on the
            # difference between the text we knew and the text now. If the
            # server says our outstanding edit was applied, it is part of both.
            pending = frame.get("pending") or {}
            if (
                self.outstanding
                and pending.get("id") == self.outstanding.op_id
                and pending.get("rev") is not None
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
        self.outstanding = None
        self.buffer = None
        self.text = self.server_text

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
        self.rev = frame["rev"]
        if ours:
            self.acknowledged.append(self.outstanding.op_id)
            self.server_text = ot.apply(self.server_text, self.outstanding.op)
            self.outstanding = Pending(next(self._ids), self.buffer) if self.buffer is not None else None
            self.buffer = None
            return [self._outstanding_frame()] if self.outstanding is not None and self.live else []
        remote = frame["op"]
        self.server_text = ot.apply(self.server_text, remote)
        if self.outstanding is not None:
            self.outstanding.op, remote = ot.transform(self.outstanding.op, remote)
        if self.buffer is not None:
            self.buffer, remote = ot.transform(self.buffer, remote)
        self.text = ot.apply(self.text, remote)
        return []
