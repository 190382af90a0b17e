"""Plain-text operational transformation, the editing engine's pure core.

An operation is a JSON list of components that walks the whole document from
start to end: a positive int retains that many characters, a str inserts it,
a negative int deletes that many characters. Lengths count Unicode code points
(Python ``str`` indices), never UTF-16 units or bytes.

This module imports nothing from Django, Channels or asyncio; the browser's
``editor/static/editor/ot.js`` mirrors it function for function.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

Component: TypeAlias = int | str
Operation: TypeAlias = list[Component]


class OperationError(ValueError):
    """An operation is malformed or does not fit the document it meets."""


def is_retain(component: Component) -> bool:
    return type(component) is int and component > 0


def is_insert(component: Component) -> bool:
    return type(component) is str


def is_delete(component: Component) -> bool:
    return type(component) is int and component < 0


class _Builder:
    """Appends components to an operation while keeping it canonical.

    Canonical means: no empty or zero components, no two neighbours of the
    same kind, and an insert never directly after a delete (the pair is stored
    insert first), so two equal edits always produce equal lists.
    """

    __slots__ = ("components",)

    def __init__(self) -> None:
        self.components: Operation = []

    def retain(self, count: int) -> None:
        if count <= 0:
            return
        ops = self.components
        if ops and is_retain(ops[-1]):
            ops[-1] += count
        else:
            ops.append(count)

    def insert(self, text: str) -> None:
        if not text:
            return
        ops = self.components
        if ops and is_insert(ops[-1]):
            ops[-1] += text
        elif ops and is_delete(ops[-1]):
            if len(ops) >= 2 and is_insert(ops[-2]):
                ops[-2] += text
            else:
                ops.insert(len(ops) - 1, text)
        else:
            ops.append(text)

    def delete(self, count: int) -> None:
        if count <= 0:
            return
        ops = self.components
        if ops and is_delete(ops[-1]):
            ops[-1] -= count
        else:
            ops.append(-count)

    def add(self, component: Component) -> None:
        if is_insert(component):
            self.insert(component)
        elif component > 0:
            self.retain(component)
        else:
            self.delete(-component)


def parse(raw: object) -> Operation:
    """Validate an operation that arrived as decoded JSON and return it canonical.

    Raises OperationError naming the first offending component, so a client
    learns exactly what it sent wrong.
    """
    if not isinstance(raw, list):
        raise OperationError(f"an operation is a list of components, not {type(raw).__name__}")
    builder = _Builder()
    for index, component in enumerate(raw):
        if type(component) is int:
            if component == 0:
                raise OperationError(f"component {index} is 0; retain or delete at least 1")
        elif type(component) is str:
            if not component:
                raise OperationError(f"component {index} inserts an empty string")
        else:
            raise OperationError(
                f"component {index} is {type(component).__name__}; "
                "expected a positive int (retain), a string (insert) or a negative int (delete)"
            )
        builder.add(component)
    return builder.components


def normalize(components: Iterable[Component]) -> Operation:
    """Return the canonical form of trusted components (no validation)."""
    builder = _Builder()
    for component in components:
        builder.add(component)
    return builder.components


def base_length(op: Operation) -> int:
    """Length of the document the operation applies to."""
    return sum(c if type(c) is int and c > 0 else -c for c in op if type(c) is int)


def target_length(op: Operation) -> int:
    """Length of the document after the operation."""
    return sum(c if type(c) is int else len(c) for c in op if type(c) is str or c > 0)


def is_noop(op: Operation) -> bool:
    return all(is_retain(c) for c in op)


def apply(text: str, op: Operation) -> str:
    """Return ``text`` with ``op`` applied.

    Invariant: ``len(apply(text, op)) == target_length(op)``.
    """
    length = base_length(op)
    if length != len(text):
        raise OperationError(f"operation spans {length} characters but the document has {len(text)}")
    parts: list[str] = []
    position = 0
    for component in op:
        if type(component) is str:
            parts.append(component)
        elif component > 0:
            parts.append(text[position : position + component])
            position += component
        else:
            position -= component
    return "".join(parts)


# compose: apply(apply(S, a), b) == apply(S, compose(a, b))
def compose(a: Operation, b: Operation) -> Operation:
    """Merge two consecutive operations into one."""
    if target_length(a) != base_length(b):
        raise OperationError(
            f"cannot compose: the first operation produces {target_length(a)} characters "
            f"but the second spans {base_length(b)}"
        )
    result = _Builder()
    first, second = iter(a), iter(b)
    x = next(first, None)
    y = next(second, None)
    while x is not None or y is not None:
        if x is not None and is_delete(x):
            result.delete(-x)
            x = next(first, None)
            continue
        if y is not None and is_insert(y):
            result.insert(y)
            y = next(second, None)
            continue
        if x is None or y is None:
            raise OperationError("cannot compose: operations of different lengths")
        if is_retain(x) and is_retain(y):
            step = min(x, y)
            result.retain(step)
            x, y = x - step, y - step
        elif is_insert(x) and is_delete(y):
            step = min(len(x), -y)
            x, y = x[step:], y + step
        elif is_insert(x):  # y retains part of what x inserted
            step = min(len(x), y)
            result.insert(x[:step])
            x, y = x[step:], y - step
        else:  # x retains, y deletes
            step = min(x, -y)
            result.delete(step)
            x, y = x - step, y + step
        if not x:
            x = next(first, None)
        if not y:
            y = next(second, None)
    return result.components


# transform: apply(apply(S, a), b_prime) == apply(apply(S, b), a_prime)
def transform(a: Operation, b: Operation) -> tuple[Operation, Operation]:
    """Rebase two concurrent operations on each other.

    ``a`` and ``b`` were both made against the same document; the result is
    ``(a_prime, b_prime)`` where ``a_prime`` applies after ``b`` and
    ``b_prime`` after ``a``. When both insert at the same position, ``a``'s
    text comes first: the server passes the incoming operation as ``a`` and
    clients pass their own pending operation as ``a``, so all agree.
    """
    if base_length(a) != base_length(b):
        raise OperationError(
            f"cannot transform: operations span {base_length(a)} and {base_length(b)} characters"
        )
    a_prime, b_prime = _Builder(), _Builder()
    first, second = iter(a), iter(b)
    x = next(first, None)
    y = next(second, None)
    while x is not None or y is not None:
        if x is not None and is_insert(x):
            a_prime.insert(x)
            b_prime.retain(len(x))
            x = next(first, None)
            continue
        if y is not None and is_insert(y):
            a_prime.retain(len(y))
            b_prime.insert(y)
            y = next(second, None)
            continue
        if x is None or y is None:
            raise OperationError("cannot transform: operations of different lengths")
        if is_retain(x) and is_retain(y):
            step = min(x, y)
            a_prime.retain(step)
            b_prime.retain(step)
            x, y = x - step, y - step
        elif is_delete(x) and is_delete(y):  # both deleted the same characters
            step = min(-x, -y)
            x, y = x + step, y + step
        elif is_delete(x):  # y retains
            step = min(-x, y)
            a_prime.delete(step)
            x, y = x + step, y - step
        else:  # x retains, y deletes
            step = min(x, -y)
            b_prime.delete(step)
            x, y = x - step, y + step
        if not x:
            x = next(first, None)
        if not y:
            y = next(second, None)
    return a_prime.components, b_prime.components


# invert: apply(apply(text, op), invert(op, text)) == text
def invert(op: Operation, text: str) -> Operation:
    """The operation that undoes ``op`` on the text it produced from ``text``."""
    builder = _Builder()
    position = 0
    for component in op:
        if type(component) is str:
            builder.delete(len(component))
        elif component > 0:
            builder.retain(component)
            position += component
        else:
            builder.insert(text[position : position - component])
            position -= component
    return builder.components


def transform_index(index: int, op: Operation, *, own: bool = False) -> int:
    """Where a position (a caret) ends up after ``op``.

    An insert exactly at the position leaves it before the inserted text, so
    a remote insert at your caret does not push your caret along; with
    ``own`` (the caret of the person who made ``op``) it goes after it, as a
    typist's caret does.
    """
    new_index = index
    position = 0
    for component in op:
        if position > index:
            break
        if type(component) is str:
            if position < index or (own and position == index):
                new_index += len(component)
        elif component > 0:
            position += component
        else:
            removed = min(-component, index - position)
            new_index -= removed
            position -= component
    return new_index


def from_diff(old: str, new: str) -> Operation:
    """The single-replacement operation that turns ``old`` into ``new``.

    Keeps the longest common prefix and suffix; used to rebase edits when the
    history between two texts is no longer available.
    """
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    limit -= prefix
    while suffix < limit and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    builder = _Builder()
    builder.retain(prefix)
    builder.delete(len(old) - prefix - suffix)
    builder.insert(new[prefix : len(new) - suffix])
    builder.retain(suffix)
    return builder.components
