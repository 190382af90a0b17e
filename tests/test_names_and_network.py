"""Display names, colours, and client addresses behind trusted proxies."""

import itertools

import pytest

from editor.network import client_address, parse_networks
from editor.wire import names
from tests import colours


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ada", "Ada"),
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Ada\nLovelace\t", "Ada Lovelace"),
        ("Ada\u0000\u200b!", "Ada!"),
        ("x" * 50, "x" * 40),
        ("Zoë 漢字 😀", "Zoë 漢字 😀"),
        ("", None),
        (" \t ", None),
        (None, None),
        (42, None),
    ],
)
def test_names_are_cleaned_for_showing_to_others(raw, clean):
    assert names.clean_name(raw) == clean


def test_the_same_name_gets_the_same_colour():
    assert names.color_for("Ada") == names.color_for("Ada")
    assert names.color_for("Ada") in names.PALETTE
    assert len({names.color_for(f"person {n}") for n in range(100)}) > 6


@pytest.mark.parametrize("vision", colours.VISIONS)
def test_any_two_colours_of_the_palette_are_told_apart_also_with_colour_blindness(vision):
    """Issue 17: orange and brown looked alike; with a deficiency, several did."""
    seen = {hex_colour: colours.seen_with(vision, colours.rgb(hex_colour)) for hex_colour in names.PALETTE}
    closest = min(
        (colours.distance(seen[a], seen[b]), a, b) for a, b in itertools.combinations(names.PALETTE, 2)
    )
    assert closest[0] >= 25, closest


@pytest.mark.parametrize("colour", names.PALETTE)
def test_every_colour_shows_on_both_themes_and_carries_readable_label_text(colour):
    """A caret is a 2 px line: 3:1 against either page (WCAG's non-text contrast); its label's
    text, black or white (cursors.js inkOn picks the better), 4.5:1."""
    shade = colours.rgb(colour)
    assert colours.contrast(shade, colours.WHITE) >= 3
    assert colours.contrast(shade, colours.DARK_PAGE) >= 3
    assert max(colours.contrast(shade, colours.WHITE), colours.contrast(shade, colours.BLACK)) >= 4.5


def test_generated_names_are_two_capitalised_words():
    adjective, animal = names.generated_name().split(" ")
    assert adjective.istitle()
    assert animal.istitle()


def scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 5555), "headers": headers}


PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address(scope("203.0.113.7", "1.2.3.4"), []) == "203.0.113.7:5555"


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    assert client_address(scope("203.0.113.7", "1.2.3.4"), PROXIES) == "203.0.113.7:5555"


def test_forwarded_for_from_a_trusted_proxy_names_the_client():
    assert client_address(scope("10.1.2.3", "198.51.100.9"), PROXIES) == "198.51.100.9"


def test_the_rightmost_untrusted_hop_is_the_client_not_what_it_claims():
    # The client sent "X-Forwarded-For: 6.6.6.6" itself; our proxy appended its real address.
    assert client_address(scope("10.1.2.3", "6.6.6.6, 198.51.100.9, 10.0.0.5"), PROXIES) == "198.51.100.9"


def test_hops_that_are_not_addresses_are_ignored():
    forged = "<script>x</script>, 198.51.100.9"
    assert client_address(scope("10.1.2.3", forged), PROXIES) == "198.51.100.9"
    assert client_address(scope("10.1.2.3", "not-an-address"), PROXIES) == "10.1.2.3:5555"


def test_a_trusted_proxy_without_the_header_is_the_address():
    assert client_address(scope("127.0.0.1"), PROXIES) == "127.0.0.1:5555"


def test_no_peer_is_an_empty_address():
    assert client_address({"headers": []}, PROXIES) == ""
