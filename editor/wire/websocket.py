"""A server frame's bytes on the wire (RFC 6455), built once for every socket it goes to. Pure."""

from __future__ import annotations

import struct


class EncodedFrame:
    """A server frame's JSON text; ``wire``, its bytes on the wire, is built on first use and
    shared by every socket it is written to."""

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
