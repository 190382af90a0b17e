"""The editing algorithm, pure: no Django, no Channels, no asyncio, no I/O.

- ``text``: plain-text operations (apply, compose, transform, invert), the
  twin of the browser's ``static/editor/ot.js``; re-exported here, so that
  ``from editor import ot`` then ``ot.transform(a, b)`` reads as ot.js does.
- ``server``: the server's half (accept an edit over a document's log,
  rebase it, recognise resends), the log interface and its in-memory twin.
- ``client``: the client's half, the Python twin of ``static/editor/client.js``.

May import: the standard library and this package, nothing else.
"""

from .text import (
    Component,
    Operation,
    OperationError,
    apply,
    base_length,
    compose,
    from_diff,
    invert,
    is_delete,
    is_insert,
    is_noop,
    is_retain,
    normalize,
    parse,
    target_length,
    transform,
    transform_index,
)

__all__ = [
    "Component",
    "Operation",
    "OperationError",
    "apply",
    "base_length",
    "compose",
    "from_diff",
    "invert",
    "is_delete",
    "is_insert",
    "is_noop",
    "is_retain",
    "normalize",
    "parse",
    "target_length",
    "transform",
    "transform_index",
]
