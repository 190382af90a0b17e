"""Seeded random material for the randomized tests: texts, operations, checkable keystrokes."""

from __future__ import annotations

import random

from editor import ot

# Text that breaks naive editors: astral characters (😀, 😁 and 👍 share their high surrogate,
# equal as UTF-16 units, different characters), a modifier, combining marks, CJK, every line end.
PIECES = ["a", "b", " ", "\n", "\r\n", "\r", "😀", "😁", "👍", "👍🏽", "𝄞", "é", "e\u0301", "漢", "\u200d"]


def random_text(rng: random.Random, pieces: int = 8) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, pieces)))


def random_operation(rng: random.Random, text: str) -> ot.Operation:
    """Retains, inserts and deletes in any mix, over the whole of ``text``."""
    components: list[ot.Component] = []
    remaining = len(text)
    while remaining > 0 or rng.random() < 0.3:
        kind = rng.random()
        if kind < 0.3:
            components.append(random_text(rng, 3) or "x")
        elif remaining:
            count = rng.randint(1, remaining)
            components.append(count if kind < 0.7 else -count)
            remaining -= count
    return ot.normalize(components)


class Keystrokes:
    """Random edits whose inserts can be checked for at the end.

    Every insert is one unique "kept" character (never deleted) plus filler
    dots; deletes only remove runs of dots, so a lost keystroke shows up as a
    missing kept character and a doubled one as a kept character found twice.
    """

    def __init__(self, rng: random.Random, client_index: int) -> None:
        self.rng = rng
        self.next_char = 0x4E00 + client_index * 0x400  # a private block of CJK ideographs per client
        self.inserted: list[str] = []

    def edit(self, text: str) -> ot.Operation:
        dots = [i for i, char in enumerate(text) if char == "."]
        if dots and self.rng.random() < 0.3:
            start = self.rng.choice(dots)
            length = 1
            while start + length < len(text) and text[start + length] == "." and length < 3:
                length += 1
            return ot.normalize([start, -length, len(text) - start - length])
        kept = chr(self.next_char)
        self.next_char += 1
        self.inserted.append(kept)
        position = self.rng.randint(0, len(text))
        return ot.normalize([position, kept + "." * self.rng.randint(0, 2), len(text) - position])
