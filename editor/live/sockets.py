"""A frame for many sockets: its text, and its bytes on the wire, built once.

An edit goes to every connection of its document on a process. Through
Channels and Daphne, each copy is encoded, framed by autobahn and queued by
Twisted on its own; with the server's frame writer (server.py) the frame's
bytes are built once here and written to each socket as they are. Without
one (Channels' test communicator, or a plain ``daphne`` command) the text
goes through the consumer's ordinary send.

Pure: no Django, no Channels, no Twisted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

# The scope extension (ASGI ``scope["extensions"]``) by which the server
# offers a connection's writer: ``{"write": callable(bytes) -> bool}``.
WRITER_EXTENSION = "editor.frame_writer"


def frame_writer(scope: dict) -> Callable[[bytes], bool] | None:
    """The connection's writer, if its server offers one: takes a frame's bytes, False if not open."""
    return scope.get("extensions", {}).get(WRITER_EXTENSION, {}).get("write")


class Frame:
    """A text frame; ``wire`` is computed on first use and shared by every socket it is written to."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.text.encode())
        return self._wire


def text_frame(payload: bytes) -> bytes:
    """A whole text message as one WebSocket frame from a server (RFC 6455, section 5.2).

    FIN and the text opcode, then the length in 7 bits, or 126 and 16 bits,
    or 127 and 64 bits; a server's frames are not masked.
    """
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload
