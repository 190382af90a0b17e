"""Who a connection is shown as: a display name and a colour. Pure."""

from __future__ import annotations

import hashlib
import hmac
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

# Eight colours told apart by people with normal vision and by simulated protanopia,
# deuteranopia and tritanopia (CIE76 distance at least 25 between any two, in each: the old
# twelve came to 4, orange beside brown), found by a search over sRGB among colours at least
# 3:1 against both a white and a dark (#121212) page, so that a 2 px caret shows in either
# theme; each carries black or white label text at 4.5:1 or more (the page picks: cursors.js
# inkOn). tests/test_names_and_network.py checks all of it.
PALETTE = (
    "#8700ff",  # violet
    "#e17800",  # orange
    "#1ea5a5",  # teal
    "#c30f1e",  # red
    "#a52da5",  # magenta
    "#c38769",  # tan
    "#785a5a",  # taupe
    "#8778ff",  # periwinkle
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


def person_key(
    *, secret: str, document: str, user_id: int | None, browser_session: str | None, connection: str
) -> str:
    """Who is behind a connection to ``document``, the same for every tab of one user or one
    browser there: the page shows a person's tabs as one entry. A keyed hash, so it tells no
    one the session cookie or the user's id, and of the document too, so that the people on
    two documents cannot tell that a guest named differently on each is one browser. A
    connection with neither (no cookie) is a person of its own."""
    if user_id is not None:
        subject = f"user:{user_id}"
    elif browser_session:
        subject = f"browser:{browser_session}"
    else:
        return connection
    message = f"editor.person:{document}:{subject}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:12]
