"""Who a connection is shown as: a display name and a colour. Pure."""

from __future__ import annotations

import secrets
import unicodedata
import zlib

MAX_NAME_LENGTH = 40

_ADJECTIVES = [
    "Amber",
    "Brave",
    "Bright",
    "Calm",
    "Clever",
    "Curious",
    "Daring",
    "Eager",
    "Gentle",
    "Golden",
    "Happy",
    "Jolly",
    "Keen",
    "Kind",
    "Lively",
    "Lucky",
    "Merry",
    "Mighty",
    "Nimble",
    "Noble",
    "Patient",
    "Playful",
    "Quick",
    "Quiet",
    "Rapid",
    "Serene",
    "Sharp",
    "Shy",
    "Silver",
    "Sleepy",
    "Smart",
    "Snowy",
    "Sunny",
    "Swift",
    "Tidy",
    "Witty",
    "Zesty",
]
_ANIMALS = [
    "Badger",
    "Beaver",
    "Bison",
    "Crane",
    "Dolphin",
    "Eagle",
    "Falcon",
    "Ferret",
    "Fox",
    "Gecko",
    "Hare",
    "Hedgehog",
    "Heron",
    "Ibex",
    "Koala",
    "Lemur",
    "Lynx",
    "Marten",
    "Moose",
    "Narwhal",
    "Otter",
    "Owl",
    "Panda",
    "Pelican",
    "Puffin",
    "Quokka",
    "Raven",
    "Robin",
    "Salmon",
    "Seal",
    "Sparrow",
    "Squirrel",
    "Stoat",
    "Tapir",
    "Tiger",
    "Turtle",
    "Walrus",
    "Wombat",
    "Wren",
    "Yak",
]

# Twelve colours that stay apart from each other on light and dark pages.
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#9a6324",
    "#469990",
    "#800000",
    "#808000",
    "#000075",
)


def generated_name() -> str:
    """A friendly name for someone who has not chosen one, like "Curious Otter"."""
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_ANIMALS)}"


def clean_name(raw: object) -> str | None:
    """A name fit to show others: printable, single-spaced, at most 40 characters; None if empty."""
    if not isinstance(raw, str):
        return None
    printable = "".join(
        " " if char.isspace() else char
        for char in raw
        if char.isspace() or not unicodedata.category(char).startswith("C")
    )
    name = " ".join(printable.split())[:MAX_NAME_LENGTH].strip()
    return name or None


def color_for(name: str) -> str:
    """The same name always gets the same colour, across reconnects and workers."""
    return PALETTE[zlib.crc32(name.encode("utf-8", "surrogatepass")) % len(PALETTE)]
