"""History, pure: who wrote each character, what changed between two revisions, and the edits
that restore a revision or take back one author's edits.

An author here is whatever the log says made an operation (its session id); the store
resolves them to people. ``""`` is nobody known: text from before history was kept.

A **change** from revision A to revision B is a list of segments over A's text and B's:
``["=", n, None]`` keeps n characters of A, ``["-", n, author]`` is n characters of A that
``author`` deleted, ``["+", text, author]`` is text that ``author`` inserted and that is still
there in B. Text inserted and deleted again between A and B is in neither. Unlike a diff of
the two texts, a change knows who did what, and it is exact: it is the operations themselves,
composed (Etherpad's changesets with their author attributes work the same way).

**Authorship** is a list of ``[length, author]`` spans covering a text in order, neighbours
always of different authors; every character's author is the author of the insert that made
it, through every later edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

from .text import Operation, OperationError, apply, compose, invert, normalize, transform

Segment: TypeAlias = list  # ["=", int, None] | ["-", int, str] | ["+", str, str]
Change: TypeAlias = list[Segment]
Spans: TypeAlias = list[list]  # [[length, author], ...]

KEEP, INSERT, DELETE = "=", "+", "-"


def _size(segment: Segment) -> int:
    return len(segment[1]) if segment[0] == INSERT else segment[1]


class _Segments:
    """Appends segments, merging neighbours of the same kind and author."""

    __slots__ = ("segments",)

    def __init__(self) -> None:
        self.segments: Change = []

    def add(self, kind: str, value, author) -> None:
        if not value:
            return
        last = self.segments[-1] if self.segments else None
        if last is not None and last[0] == kind and last[2] == author:
            last[1] += value
        else:
            self.segments.append([kind, value, author])


def change_of(op: Operation, author: str) -> Change:
    """One operation as a change made by ``author``."""
    out = _Segments()
    for component in op:
        if type(component) is str:
            out.add(INSERT, component, author)
        elif component > 0:
            out.add(KEEP, component, None)
        else:
            out.add(DELETE, -component, author)
    return out.segments


def compose_changes(first: Change, second: Change) -> Change:
    """The change from A to C, of ``first`` (A to B) then ``second`` (B to C)."""
    out = _Segments()
    segments = iter(first)
    current = next(segments, None)

    def deletions_before_next_character():
        nonlocal current
        while current is not None and current[0] == DELETE:
            out.add(*current)
            current = next(segments, None)

    for kind, value, author in second:
        if kind == INSERT:
            deletions_before_next_character()
            out.add(INSERT, value, author)
            continue
        wanted = value
        while wanted:
            deletions_before_next_character()
            if current is None:
                raise OperationError("cannot compose: the second change spans more than the first made")
            size = _size(current)
            taken = min(wanted, size)
            if current[0] == KEEP:
                out.add(KEEP, taken, None) if kind == KEEP else out.add(DELETE, taken, author)
                rest = [KEEP, size - taken, None]
            else:  # inserted by the first; deleted again by the second: in neither text
                if kind == KEEP:
                    out.add(INSERT, current[1][:taken], current[2])
                rest = [INSERT, current[1][taken:], current[2]]
            current = rest if taken < size else next(segments, None)
            wanted -= taken
    deletions_before_next_character()
    if current is not None:
        raise OperationError("cannot compose: the second change spans less than the first made")
    return out.segments


def change_over(changes: Sequence[Change], length: int) -> Change:
    """The changes one after the other as one, from a text of ``length`` characters.

    Composed pairwise, as a balanced tree: each level costs about what the changes hold, so n
    changes cost n log n, where composing them in a row would cost n times the growing result.
    """
    level = list(changes)
    if not level:
        return [[KEEP, length, None]] if length else []
    while len(level) > 1:
        paired = [compose_changes(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def described(change: Change, old_text: str) -> list[tuple[str, str, str | None]]:
    """The change as (kind, text, author) over ``old_text`` (the text it starts from)."""
    position = 0
    described = []
    for kind, value, author in change:
        if kind == INSERT:
            described.append((kind, value, author))
        else:
            described.append((kind, old_text[position : position + value], author))
            position += value
    if position != len(old_text):
        raise OperationError(f"the change spans {position} characters, the text has {len(old_text)}")
    return described


def restoring(change: Change, old_text: str) -> Operation:
    """The operation that takes the text the change made back to ``old_text`` (where it started):
    what it inserted is deleted, what it deleted is inserted again, nothing else is touched."""
    position = 0
    components = []
    for kind, value, _ in change:
        if kind == KEEP:
            components.append(value)
            position += value
        elif kind == DELETE:
            components.append(old_text[position : position + value])
            position += value
        else:
            components.append(-len(value))
    return normalize(components)


def authorship_through(spans: Spans, change: Change) -> Spans:
    """The authorship of the text the change made, from ``spans``, the authorship of the text it
    started from."""
    out: Spans = []

    def add(length: int, author: str) -> None:
        if not length:
            return
        if out and out[-1][1] == author:
            out[-1][0] += length
        else:
            out.append([length, author])

    pieces = iter(spans)
    piece = next(pieces, None)
    left = piece[0] if piece else 0
    for kind, value, author in change:
        if kind == INSERT:
            add(len(value), author)
            continue
        wanted = value
        while wanted:
            if piece is None:
                raise OperationError("the change spans more characters than the authorship covers")
            taken = min(wanted, left)
            if kind == KEEP:
                add(taken, piece[1])
            wanted -= taken
            left -= taken
            if not left:
                piece = next(pieces, None)
                left = piece[0] if piece else 0
    if piece is not None:
        raise OperationError("the change spans fewer characters than the authorship covers")
    return out


def authorship_after(spans: Spans, op: Operation, author: str) -> Spans:
    """The authorship after ``author``'s operation ``op``."""
    return authorship_through(spans, change_of(op, author))


def authorship_over(spans: Spans, operations: Iterable[tuple[Operation, str]]) -> Spans:
    """The authorship after the operations, each (op, author), one after the other.

    Their changes are composed first and the spans walked once: a document typed by several
    people at once has a run per few keystrokes, and walking them all for each operation
    cost the stored text's upkeep (in a thread, holding the GIL) a 100 ms pause every 100
    revisions, seen in the p99 of every tab (bench.ab).
    """
    changes = [change_of(op, author) for op, author in operations]
    if not changes:
        return spans
    return authorship_through(spans, change_over(changes, sum(length for length, _ in spans)))


def authored(text: str, author: str = "") -> Spans:
    """A whole text by one author (by nobody known, by default)."""
    return [[len(text), author]] if text else []


def reverting(text: str, operations: Iterable[tuple[Operation, bool]]) -> Operation:
    """The operation that takes back some operations and keeps the rest.

    ``text`` is the text before the first of ``operations``: (op, taken back) in order up to
    the head. Each one taken back is inverted and composed in front of what is taken back so
    far; everything else is transformed through, so later edits by others stay where they
    landed (ot.js's UndoManager: an undo is transformed over the edits made since).
    """
    undo: Operation = [len(text)] if text else []
    for op, taken_back in operations:
        if taken_back:
            undo = compose(invert(op, text), undo)
        else:
            undo, _ = transform(undo, op)
        text = apply(text, op)
    return normalize(undo)
