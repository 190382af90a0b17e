"""The wire protocol: JSON text frames between browser tabs and the server.

Parsing turns a raw frame into a typed request or raises ProtocolError with a
code and a message the client can show; encoding builds the server's frames.
Documented in docs/protocol.md. Pure: no Django, no Channels.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from editor import ot

from . import names

# Ids are printable ASCII without spaces; clients should draw them at random,
# since an id another client can predict lets it pre-empt the edit.
OP_ID = re.compile(r"[!-~]{1,80}")
# Revisions stay within the integers JSON and JavaScript represent exactly.
MAX_REVISION = 2**53
# Close codes. RFC 6455's own: the server sends them with a close frame.
CLOSE_POLICY_VIOLATION = 1008  # over a limit and not slowing down, or too many connections
CLOSE_MESSAGE_TOO_BIG = 1009  # a message over EDITOR_MAX_FRAME_BYTES (the socket layer's)
CLOSE_INVALID_DATA = 1007  # a text frame that is not UTF-8 (the socket layer's)
CLOSE_GOING_AWAY = 1001  # a fallback session still open when its worker stops (after the drain's 1012)
CLOSE_ABNORMAL = (
    1006  # never sent: what a consumer is told when its client vanished (an idle fallback session)
)
# RFC 6455 leaves 4000-4999 to applications. The browser does not reconnect
# after either.
CLOSE_SERVICE_RESTART = 1012  # the worker is shutting down: reconnect at once, elsewhere
CLOSE_TRY_AGAIN_LATER = 1013  # the worker cannot serve a connection now (its database is away)
CLOSE_DISCONNECTED = 4001  # an operator disconnected the session
CLOSE_FORBIDDEN = 4403  # no right to this document (never had, or lost it: ``forbidden`` says why)
CLOSE_UNKNOWN_ENDPOINT = 4404  # a path under /ws/ that is not a document's
# A bound on the work one edit can cause on the server (see ot.server.rebase).
MAX_OP_COMPONENTS = 1000
# No document is longer (its length is stored in 32 bits), so no operation
# can span more: a larger count is refused here, not by the database.
MAX_SPAN = 2**31 - 1


class ProtocolError(Exception):
    """A frame the server will not act on; the connection stays usable."""

    def __init__(self, code: str, message: str, op_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.op_id = op_id


@dataclass(frozen=True, slots=True)
class OpRequest:
    """``{"type": "op", "rev": R, "op": [...], "id": "..."}``: an edit made against revision R."""

    rev: int
    op: ot.Operation
    op_id: str


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """``{"type": "fetch", "rev": R}``: send me every operation after revision R."""

    rev: int


@dataclass(frozen=True, slots=True)
class PingRequest:
    """``{"type": "ping"}``: answered with ``{"type": "pong"}``, keeps proxies from idling out."""


@dataclass(frozen=True, slots=True)
class CaretRequest:
    """``{"type": "caret", "rev": R, "caret": [start, end]}``: my selection, on revision R."""

    rev: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class RenameRequest:
    """``{"type": "rename", "name": "..."}``: show me under this name."""

    name: str


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """``{"type": "history", "rev": R}``: the text at revision R, who wrote it, and the named
    versions (the timeslider)."""

    rev: int


@dataclass(frozen=True, slots=True)
class SaveVersionRequest:
    """``{"type": "save-version", "rev": R, "name": "..."}``: keep revision R under a name
    (a mark on the timeslider); answered with the ``history`` frame of R."""

    rev: int
    name: str


MAX_VERSION_NAME = 80
MOST_VERSIONS_SHOWN = 200  # a history frame carries the latest named versions, no more


@dataclass(frozen=True, slots=True)
class RevertRequest:
    """``{"type": "revert", "authors": ["user:5", ...], "since": T, "until": T}``: the edit that
    would take back these authors' edits (made between the two times, if given), to make as
    one's own; answered with a ``revert`` frame (``revert_frame``), nothing committed."""

    authors: tuple[str, ...]
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True, slots=True)
class DiffRequest:
    """``{"type": "diff", "from": A, "to": B}``: what changed from revision A to B (A <= B),
    each insert and delete with its author."""

    start: int
    end: int


# A document's name (its URLs', the API's, the socket's), and an author as history frames and
# the HTTP API name them.
SLUG_PATTERN = r"[A-Za-z0-9_-]{1,64}"
AUTHOR_KEY = re.compile(rf"(user|session):{SLUG_PATTERN}")
MOST_AUTHORS_REVERTED = 20  # one person's tabs and sessions, not a whole document's

ClientRequest = (
    OpRequest
    | FetchRequest
    | PingRequest
    | CaretRequest
    | RenameRequest
    | HistoryRequest
    | SaveVersionRequest
    | RevertRequest
    | DiffRequest
)


@dataclass(frozen=True, slots=True)
class ConnectQuery:
    """The socket URL's query: ``?rev=R&pending=ID&name=N``, every part optional.

    ``rev``: resume after revision R; ``pending``: the id of the edit that was
    in flight; ``name``: the display name the browser remembers.
    """

    rev: int | None = None
    pending: str | None = None
    name: str | None = None


def _revision(frame: dict[str, Any], op_id: str | None = None) -> int:
    rev = frame.get("rev")
    if type(rev) is not int or not 0 <= rev <= MAX_REVISION:
        raise ProtocolError("invalid-frame", "rev must be an integer from 0 to 2**53", op_id)
    return rev


def parse_connect_query(query_string: bytes) -> ConnectQuery:
    """Read the socket URL's query; anything malformed is ignored (a fresh connection)."""
    query = parse_qs(query_string.decode("latin-1"))
    rev = query.get("rev", [""])[0]
    pending = query.get("pending", [""])[0]
    return ConnectQuery(
        rev=int(rev) if re.fullmatch(r"[0-9]{1,15}", rev) else None,
        pending=pending if OP_ID.fullmatch(pending) else None,
        name=names.clean_name(query.get("name", [""])[0]),
    )


def storable(text: str) -> bool:
    """JSON can carry lone surrogates and NUL, which are not text a database stores."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_op_id(value: object) -> str:
    """An edit's id, as the client chose it (the HTTP API reads it the same way)."""
    if not isinstance(value, str) or not OP_ID.fullmatch(value):
        raise ProtocolError("invalid-frame", "id must be 1 to 80 printable ASCII characters, no spaces")
    return value


def parse_op(raw_op: object, op_id: str | None = None) -> ot.Operation:
    """An edit's operation, within the bounds on the work it may cause and on what it may insert."""
    if isinstance(raw_op, list) and len(raw_op) > MAX_OP_COMPONENTS:
        raise ProtocolError("invalid-op", f"operations are limited to {MAX_OP_COMPONENTS} components", op_id)
    try:
        op = ot.parse(raw_op)
    except ot.OperationError as error:
        raise ProtocolError("invalid-op", str(error), op_id) from None
    for component in op:
        if type(component) is str and not storable(component):
            raise ProtocolError(
                "invalid-op", "inserted text must be valid Unicode without NUL characters", op_id
            )
    if ot.base_length(op) > MAX_SPAN:
        raise ProtocolError("invalid-op", f"operations span at most {MAX_SPAN} characters", op_id)
    return op


def parse_client_frame(text: str | None, data: bytes | None, *, max_bytes: int) -> ClientRequest:
    """Decode one frame from a client; raise ProtocolError saying what is wrong."""
    if text is None:
        raise ProtocolError("invalid-frame", "binary frames are not supported; send JSON text")
    # A str of n characters is at least n bytes in UTF-8: check cheaply first.
    if len(text) > max_bytes or len(text.encode(errors="surrogatepass")) > max_bytes:
        raise ProtocolError("frame-too-large", f"frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(text)
    except ValueError as error:
        raise ProtocolError("invalid-frame", f"not valid JSON: {error}") from None
    except RecursionError:
        raise ProtocolError("invalid-frame", "JSON nested too deeply") from None
    if not isinstance(frame, dict):
        raise ProtocolError("invalid-frame", "a frame is a JSON object with a type")
    kind = frame.get("type")
    if kind == "op":
        op_id = parse_op_id(frame.get("id"))
        return OpRequest(rev=_revision(frame, op_id), op=parse_op(frame.get("op"), op_id), op_id=op_id)
    if kind == "caret":
        caret = frame.get("caret")
        if (
            not isinstance(caret, list)
            or len(caret) != 2
            or not all(type(i) is int and 0 <= i <= MAX_REVISION for i in caret)
            or caret[0] > caret[1]
        ):
            raise ProtocolError("invalid-frame", "caret must be [start, end] with 0 <= start <= end")
        return CaretRequest(rev=_revision(frame), start=caret[0], end=caret[1])
    if kind == "rename":
        name = names.clean_name(frame.get("name"))
        if name is None:
            raise ProtocolError("invalid-frame", "name must be a non-empty string")
        return RenameRequest(name=name)
    if kind == "fetch":
        return FetchRequest(rev=_revision(frame))
    if kind == "ping":
        return PingRequest()
    if kind == "history":
        return HistoryRequest(rev=_revision(frame))
    if kind == "save-version":
        name = frame.get("name")
        name = " ".join(name.split()) if isinstance(name, str) else ""
        printable = storable(name) and not any(unicodedata.category(char) == "Cc" for char in name)
        if not 0 < len(name) <= MAX_VERSION_NAME or not printable:
            raise ProtocolError("invalid-frame", f"name must be 1 to {MAX_VERSION_NAME} characters of text")
        return SaveVersionRequest(rev=_revision(frame), name=name)
    if kind == "revert":
        return _revert_request(frame)
    if kind == "diff":
        start, end = (frame.get(field) for field in ("from", "to"))
        if not all(type(rev) is int and 0 <= rev <= MAX_REVISION for rev in (start, end)):
            raise ProtocolError("invalid-frame", "from and to must be integers from 0 to 2**53")
        if start > end:
            raise ProtocolError("invalid-frame", "from must not be after to")
        return DiffRequest(start=start, end=end)
    raise ProtocolError("unknown-type", f"unknown frame type {kind!r}")


def _revert_request(frame: dict[str, Any]) -> RevertRequest:
    authors = frame.get("authors")
    if (
        not isinstance(authors, list)
        or not 0 < len(authors) <= MOST_AUTHORS_REVERTED
        or not all(isinstance(author, str) and AUTHOR_KEY.fullmatch(author) for author in authors)
    ):
        raise ProtocolError(
            "invalid-frame",
            f"authors must be 1 to {MOST_AUTHORS_REVERTED} author keys (user:<id> or session:<id>)",
        )
    since, until = _time(frame, "since"), _time(frame, "until")
    if since is not None and until is not None and since > until:
        raise ProtocolError("invalid-frame", "since is after until")
    return RevertRequest(authors=tuple(dict.fromkeys(authors)), since=since, until=until)


def _time(frame: dict[str, Any], field: str) -> datetime | None:
    value = frame.get(field)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as error:
        raise ProtocolError("invalid-frame", f"{field}: {error}") from None


# RFC 3339's date-time, and nothing else datetime.fromisoformat would take (week dates, the
# basic format, an hour alone, offsets with seconds): seconds required, at most microseconds.
RFC_3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})", flags=re.ASCII
)


def parse_time(value: object) -> datetime:
    """An RFC 3339 time with its offset (``2026-12-03T10:00:00Z``), in UTC: stored times are
    UTC, and some databases compare them as text. ValueError says what is wrong."""
    if not isinstance(value, str) or not RFC_3339.fullmatch(value):
        raise ValueError("a time is RFC 3339 with its offset, such as 2026-12-03T10:00:00Z")
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{value} is not a time there is") from None


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Mode:
    """What this connection may do: ``role`` (viewer, editor, owner), and whether an operator
    ``locked`` the document; ``read_only``: it may not edit, for either reason (``Access.can_edit``
    says which, in editor/access/rules.py)."""

    role: str
    locked: bool
    read_only: bool

    def fields(self) -> dict[str, Any]:
        return {"read_only": self.read_only, "role": self.role, "locked": self.locked}


@dataclass(frozen=True, slots=True)
class Welcome:
    """What the first frame tells a connection about itself and the document."""

    session: str
    person: str
    name: str
    color: str
    people: int
    mode: Mode

    def fields(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "person": self.person,
            "name": self.name,
            "color": self.color,
            "people": self.people,
            **self.mode.fields(),
        }


def snapshot_frame(
    *, rev: int, text: str, welcome: Welcome, pending_id: str | None = None, pending_rev: int | None = None
) -> str:
    """The whole document. When the client named a pending edit, says whether it was applied."""
    frame: dict[str, Any] = {"type": "snapshot", "rev": rev, "text": text, **welcome.fields()}
    if pending_id is not None:
        frame["pending"] = {"id": pending_id, "rev": pending_rev}
    return encode(frame)


def resume_frame(*, rev: int, welcome: Welcome) -> str:
    """Starts a resumed connection; the missed ``op`` frames follow it."""
    return encode({"type": "resume", "rev": rev, **welcome.fields()})


def person_frame(
    *,
    session: str,
    seq: int,
    name: str,
    color: str,
    caret: tuple[int, int] | None,
    rev: int | None,
    signed_in: bool = False,
    role: str = "editor",
    person: str | None = None,
) -> str:
    """Someone on the document: who, and their selection on revision ``rev`` (if known).

    ``seq`` grows with every update from that session; frames can arrive out
    of order (a reply overtaking a broadcast), and the highest wins. ``person``
    is the same for all the tabs of one user or browser (names.person_key).
    """
    return encode(
        {
            "type": "person",
            "session": session,
            "person": person if person is not None else session,
            "seq": seq,
            "name": name,
            "color": color,
            "caret": list(caret) if caret is not None else None,
            "rev": rev,
            "signed_in": signed_in,
            "role": role,
        }
    )


def batch_frame(frames: list[str]) -> str:
    """Several encoded frames as one: ``{"type": "batch", "frames": [...]}``, handled in order."""
    return '{"type":"batch","frames":[' + ",".join(frames) + "]}"


def leave_frame(*, session: str) -> str:
    return encode({"type": "leave", "session": session})


def relay_frame(*, carried: bool) -> str:
    """Whether edits made through other workers reach this connection now (the channel layer)."""
    return encode({"type": "relay", "ok": carried})


def mode_frame(mode: Mode) -> str:
    """What this connection may do changed (its role, or an operator's lock)."""
    return encode({"type": "mode", **mode.fields()})


def op_frame(*, rev: int, op: ot.Operation, session: str, op_id: str) -> str:
    return encode({"type": "op", "rev": rev, "op": op, "session": session, "id": op_id})


def history_frame(
    *, rev: int, text: str, authorship: list[tuple[int, str | None]], authors: dict, versions: list[dict]
) -> str:
    """The answer to ``history``: the text at ``rev``, its runs of ``[length, author]``
    (author keys of ``authors``; null: before history was kept), and the named versions."""
    named = [{**version, "at": version["at"].isoformat()} for version in versions]
    return encode(
        {
            "type": "history",
            "rev": rev,
            "text": text,
            "authorship": [list(run) for run in authorship],
            "authors": authors,
            "versions": named,
        }
    )


def revert_frame(*, rev: int, op: ot.Operation, authors: tuple[str, ...]) -> str:
    """The answer to ``revert``: the edit on revision ``rev`` that takes the authors' edits
    back (``[length]`` or ``[]`` when there is nothing to take back)."""
    return encode({"type": "revert", "rev": rev, "op": op, "authors": list(authors)})


def diff_frame(*, start: int, end: int, changes: list[dict], authors: dict) -> str:
    """The answer to ``diff``: kept, inserted and deleted pieces in order (kept and deleted
    ones make ``from``'s text, kept and inserted ones ``to``'s), and their authors."""
    return encode({"type": "diff", "from": start, "to": end, "changes": changes, "authors": authors})


def pong_frame(*, rev: int) -> str:
    """Carries the head revision, so a client notices a last broadcast that never came."""
    return encode({"type": "pong", "rev": rev})


def ack_frame(*, rev: int, op_id: str) -> str:
    return encode({"type": "ack", "rev": rev, "id": op_id})


def error_frame(code: str, message: str, op_id: str | None = None, **fields: Any) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message, **fields}
    if op_id is not None:
        frame["id"] = op_id
    return encode(frame)


def rate_limited_frame(*, retry_after: float, op_id: str | None = None) -> str:
    """The frame (its id, if any) was dropped: send it again ``retry_after`` s later (sent in ms)."""
    retry_ms = max(1, math.ceil(retry_after * 1000))
    return error_frame("rate-limited", "too many frames; slow down", op_id, retry_after=retry_ms)
