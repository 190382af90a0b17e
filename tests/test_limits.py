"""Every limit at exactly its value and one past it.

Each limit is probed where an off-by-one would show: the largest value
accepted, the smallest refused (with the code docs/protocol.md gives it),
and after a refusal nothing changed and the connection still works. The
two configurable limits are also followed from the environment into
Django's settings, into the page's ``editor-config`` and, with a real
server process, into what its socket enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import websockets

from editor import consumers, ot
from editor.ot import server as engine
from editor.wire import names, protocol
from tests.documents import anew_document, aread_document
from tests.servers import ROOT
from tests.tabs import TIMEOUT, open_tab

consumer_test = pytest.mark.django_db(transaction=True)

# One of each UTF-8 width (1, 2, 3 and 4 bytes), and all of them at once: a
# limit counted in characters, UTF-16 units or bytes gives different answers.
WIDE = ["a", "é", "€", "😀", "é€😀"]
ID32 = "x" * 32  # the size of the browser's ids: 128 random bits in hex


def encode(frame: dict) -> str:
    """A frame as the browser's JSON.stringify writes it (no spaces, UTF-8 text unescaped)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def utf8_size(text: str) -> int:
    return len(text.encode())


def op_frame(text: str, *, rev: int = 0, length: int = 0, op_id: str = ID32) -> str:
    """The frame appending ``text`` to a document of ``length`` characters at revision ``rev``."""
    return encode({"type": "op", "rev": rev, "op": [length, text] if length else [text], "id": op_id})


def append_frame_of_size(size: int, wide: str, *, rev: int = 0, length: int = 0, op_id: str = ID32) -> str:
    """An op frame of exactly ``size`` UTF-8 bytes, its text made of ``wide`` (ASCII to fill the rest)."""
    room = size - utf8_size(op_frame("", rev=rev, length=length, op_id=op_id))
    text = wide * (room // utf8_size(wide)) + "a" * (room % utf8_size(wide))
    frame = op_frame(text, rev=rev, length=length, op_id=op_id)
    assert utf8_size(frame) == size
    return frame


def inserted_text(frame: str) -> str:
    return json.loads(frame)["op"][-1]


def parse(frame: str, max_bytes: int = 10**6) -> protocol.ClientRequest:
    return protocol.parse_client_frame(frame, None, max_bytes=max_bytes)


def refusal(frame: str, max_bytes: int = 10**6) -> protocol.ProtocolError:
    with pytest.raises(protocol.ProtocolError) as refused:
        parse(frame, max_bytes)
    return refused.value


async def still_usable(tab, *, rev: int, length: int) -> None:
    """The connection still takes an edit after a refusal: one character appended at the next revision."""
    await tab.send(op_frame("!", rev=rev, length=length, op_id="still-usable"))
    assert await tab.receive_type("ack") == {"type": "ack", "rev": rev + 1, "id": "still-usable"}


# EDITOR_MAX_FRAME_BYTES: UTF-8 bytes of the frame's text, parse_client_frame.


@pytest.mark.parametrize("wide", WIDE)
def test_a_frame_of_exactly_max_bytes_is_parsed_and_one_byte_more_is_refused(wide):
    """The count is UTF-8 bytes of the whole frame: not characters, not UTF-16 units."""
    at_limit = append_frame_of_size(500, wide)
    assert parse(at_limit, max_bytes=500).op == [inserted_text(at_limit)]
    error = refusal(append_frame_of_size(501, wide), max_bytes=500)
    assert (error.code, error.message) == ("frame-too-large", "frames are limited to 500 bytes")


def test_a_frame_of_fewer_characters_than_max_bytes_but_more_bytes_is_refused():
    """Astral text: 4 bytes but one character (two UTF-16 units) each, so a character count lets it by."""
    frame = append_frame_of_size(501, "😀")
    assert len(frame) < 300
    assert len(frame.encode("utf-16-le")) // 2 < 500
    assert refusal(frame, max_bytes=500).code == "frame-too-large"


@consumer_test
@pytest.mark.parametrize("wide", WIDE)
async def test_the_socket_takes_a_frame_of_exactly_max_bytes_and_refuses_one_byte_more(settings, wide):
    """One byte over: frame-too-large, nothing stored; then exactly the limit is acknowledged."""
    settings.EDITOR_MAX_FRAME_BYTES = 2000
    tab, _ = await open_tab()
    await tab.send(append_frame_of_size(2001, wide, op_id="over"))
    error = await tab.receive_type("error")
    assert error["code"] == "frame-too-large"
    assert "2000 bytes" in error["message"]
    assert await aread_document("doc") == (0, "")
    at_limit = append_frame_of_size(2000, wide, op_id="at-limit")
    await tab.send(at_limit)
    assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "at-limit"}
    assert await aread_document("doc") == (1, inserted_text(at_limit))
    await tab.close()


# EDITOR_MAX_DOCUMENT_CHARS: code points after the edit, ot.server.checked_length.

# Ten code points: eleven UTF-16 units, sixteen UTF-8 bytes.
TEN_CHARACTERS = "😀é€abcdefg"


def test_checked_length_allows_exactly_max_chars_and_refuses_one_more():
    """Growing to the limit is fine; one character past it is document-too-large."""
    assert engine.checked_length(9, [9, "😀"], max_chars=10) == 10
    with pytest.raises(engine.EditRejected) as refused:
        engine.checked_length(10, [10, "😀"], max_chars=10)
    assert refused.value.code == "document-too-large"
    assert refused.value.message == "the document would have 11 characters; the limit is 10"


def test_checked_length_lets_a_document_over_the_limit_shrink_or_stay_but_not_grow():
    """A limit lowered below a document's length: edits that do not grow it are still accepted."""
    assert engine.checked_length(15, ["y", -1, 14], max_chars=10) == 15
    assert engine.checked_length(15, [-1, 14], max_chars=10) == 14
    with pytest.raises(engine.EditRejected) as refused:
        engine.checked_length(15, [15, "y"], max_chars=10)
    assert refused.value.code == "document-too-large"


@consumer_test
async def test_a_document_grows_to_exactly_max_chars_but_not_one_character_more(settings):
    """Counted in code points: ten characters of which one astral, then one more is refused."""
    assert len(TEN_CHARACTERS) == 10
    assert len(TEN_CHARACTERS.encode("utf-16-le")) // 2 == 11
    settings.EDITOR_MAX_DOCUMENT_CHARS = 10
    tab, _ = await open_tab()
    await tab.send(op_frame(TEN_CHARACTERS, op_id="at-limit"))
    assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "at-limit"}
    assert await aread_document("doc") == (1, TEN_CHARACTERS)
    await tab.send(op_frame("😀", rev=1, length=10, op_id="over"))
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("document-too-large", "over")
    assert await aread_document("doc") == (1, TEN_CHARACTERS)
    # At the limit, a replacement that keeps the length is still an edit like any other.
    await tab.send({"type": "op", "rev": 1, "op": ["Z", -1, 9], "id": "same-length"})
    assert await tab.receive_type("ack") == {"type": "ack", "rev": 2, "id": "same-length"}
    assert await aread_document("doc") == (2, "Z" + TEN_CHARACTERS[1:])
    await tab.close()


@consumer_test
async def test_one_edit_from_empty_to_max_chars_plus_one_is_refused_and_nothing_changes(settings):
    """Eleven code points in one paste: refused, the document stays empty, the socket keeps working."""
    settings.EDITOR_MAX_DOCUMENT_CHARS = 10
    tab, _ = await open_tab()
    await tab.send(op_frame(TEN_CHARACTERS + "😀", op_id="over"))
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("document-too-large", "over")
    assert "would have 11 characters; the limit is 10" in error["message"]
    assert await aread_document("doc") == (0, "")
    await still_usable(tab, rev=0, length=0)
    await tab.close()


@consumer_test
async def test_a_document_over_a_lowered_limit_can_shrink_or_stay_but_not_grow(settings):
    """The rule is "grow past" the limit (docs/protocol.md), checked through the committer."""
    settings.EDITOR_MAX_DOCUMENT_CHARS = 10
    await anew_document("doc", text="x" * 15, rev=3)
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 3, "op": [15, "y"], "id": "grow"})
    assert (await tab.receive_type("error"))["code"] == "document-too-large"
    await tab.send({"type": "op", "rev": 3, "op": ["y", -1, 14], "id": "same"})
    assert (await tab.receive_type("ack"))["rev"] == 4
    await tab.send({"type": "op", "rev": 4, "op": [-1, 14], "id": "shrink"})
    assert (await tab.receive_type("ack"))["rev"] == 5
    assert await aread_document("doc") == (5, "x" * 14)
    await tab.close()


# Both limits as the page receives them, and as the environment sets them.


class _ConfigParser(HTMLParser):
    """The page's ``editor-config`` JSON and the name field's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.config_text: str | None = None
        self.name_input: dict[str, str | None] = {}
        self._in_config = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("id") == "editor-config":
            assert attributes.get("type") == "application/json"
            self._in_config = True
            self.config_text = ""
        if tag == "input" and attributes.get("id") == "name":
            self.name_input = attributes

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_config = False

    def handle_data(self, data):
        if self._in_config:
            self.config_text += data


def page_parts(html: str) -> tuple[dict, dict]:
    """(editor-config as main.js parses it, the name input's attributes)."""
    parser = _ConfigParser()
    parser.feed(html)
    assert parser.config_text is not None, "the page has no editor-config script"
    return json.loads(parser.config_text), parser.name_input


@pytest.mark.parametrize(("max_chars", "max_bytes"), [(10, 2000), (1_000_000, 262_144), (2**31 - 1, 1)])
def test_the_page_announces_exactly_the_configured_limits(client, db, settings, max_chars, max_bytes):
    """maxDocumentChars and maxFrameBytes are the settings themselves, as JSON integers."""
    settings.EDITOR_MAX_DOCUMENT_CHARS = max_chars
    settings.EDITOR_MAX_FRAME_BYTES = max_bytes
    config, _ = page_parts(client.get("/d/limits/").content.decode())
    assert (config["maxDocumentChars"], config["maxFrameBytes"]) == (max_chars, max_bytes)
    assert type(config["maxDocumentChars"]) is int
    assert type(config["maxFrameBytes"]) is int


def test_the_name_field_holds_at_most_the_servers_name_length(client, db):
    """The page cuts names at names.MAX_NAME_LENGTH code points (its config); the field's
    maxlength, in UTF-16 units, leaves room for that many astral characters."""
    config, name_input = page_parts(client.get("/d/limits/").content.decode())
    assert config["maxNameLength"] == names.MAX_NAME_LENGTH == 40
    assert name_input["maxlength"] == str(2 * names.MAX_NAME_LENGTH)


PRINT_LIMITS = """
import django, json
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)  # the page reads the document's rights
response = Client().get("/d/limits/", HTTP_HOST="localhost")
print(json.dumps({
    "status": response.status_code,
    "settings": [settings.EDITOR_MAX_DOCUMENT_CHARS, settings.EDITOR_MAX_FRAME_BYTES],
    "page": response.content.decode(),
}))
"""
CONFIG_NAMES = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EDITOR_MAX_DOCUMENT_CHARS", "EDITOR_MAX_FRAME_BYTES")


def run_settings(script: str, **env: str) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter whose environment sets exactly ``env`` of the configuration."""
    environment = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    environment.update(
        DJANGO_SETTINGS_MODULE="realtime_site.settings", DATABASE_URL="sqlite://:memory:", **env
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, [1_000_000, 262_144]),  # the defaults docs/protocol.md and README.md state
        ({"EDITOR_MAX_DOCUMENT_CHARS": "10", "EDITOR_MAX_FRAME_BYTES": "2000"}, [10, 2000]),
    ],
)
def test_the_limits_go_from_the_environment_into_settings_and_onto_the_page(env, expected):
    """A fresh process: the variables are what settings hold and what the page's config says."""
    result = run_settings(PRINT_LIMITS, **env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["status"] == 200
    assert values["settings"] == expected
    config, _ = page_parts(values["page"])
    assert [config["maxDocumentChars"], config["maxFrameBytes"]] == expected


def test_a_limit_that_is_not_an_integer_stops_the_process():
    """EDITOR_MAX_FRAME_BYTES=256KiB is refused at start, naming the variable."""
    result = run_settings(PRINT_LIMITS, EDITOR_MAX_FRAME_BYTES="256KiB")
    assert result.returncode != 0
    assert "EDITOR_MAX_FRAME_BYTES must be an integer, not '256KiB'" in result.stderr


PRINT_CONNECTION_LIMITS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.EDITOR_RATES.edits.burst, settings.EDITOR_MAX_CONNECTIONS_PER_ADDRESS)"
)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("EDITOR_EDITS_BURST", "1", True),
        ("EDITOR_EDITS_BURST", "0", False),
        ("EDITOR_EDITS_BURST", "-5", False),
        ("EDITOR_MAX_CONNECTIONS_PER_ADDRESS", str(2**31 - 1), True),
        ("EDITOR_MAX_CONNECTIONS_PER_ADDRESS", str(2**31), False),
        ("EDITOR_MAX_FRAME_BYTES", str(64 * 1024 * 1024), True),
        ("EDITOR_MAX_FRAME_BYTES", str(64 * 1024 * 1024 + 1), False),
        ("EDITOR_MAX_DOCUMENT_CHARS", "0", False),
    ],
)
def test_a_limit_is_taken_from_one_to_its_most_and_refused_at_start_outside(name, value, accepted):
    """A limit of 0 or less (or one past what it can be) would refuse everything or nothing."""
    result = run_settings(PRINT_CONNECTION_LIMITS, **{name: value})
    assert (result.returncode == 0) is accepted, result.stderr
    if not accepted:
        assert f"{name} must be from 1 to" in result.stderr


# SECRET_KEY and ALLOWED_HOSTS with DEBUG off (realtime_site/settings.py).

PRINT_DEBUG = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def test_debug_off_starts_with_a_secret_key_of_exactly_32_characters():
    """32 characters is enough."""
    result = run_settings(PRINT_DEBUG, DEBUG="false", SECRET_KEY="k" * 32, ALLOWED_HOSTS="editor.example")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_off_refuses_a_secret_key_of_31_characters_with_a_clear_message():
    """31 characters is one too few; the message says what to set and how."""
    result = run_settings(PRINT_DEBUG, DEBUG="false", SECRET_KEY="k" * 31, ALLOWED_HOSTS="editor.example")
    assert result.returncode != 0
    assert "DEBUG is off: set SECRET_KEY to a random value of at least 32 characters" in result.stderr


@pytest.mark.parametrize(("hosts", "starts"), [("editor.example", True), (" , ", False)])
def test_debug_off_needs_at_least_one_allowed_host(hosts, starts):
    """One host is enough; a list of nothing but separators is none."""
    result = run_settings(PRINT_DEBUG, DEBUG="false", SECRET_KEY="k" * 50, ALLOWED_HOSTS=hosts)
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert "DEBUG is off: set ALLOWED_HOSTS" in result.stderr


# Protocol limits (editor/wire/protocol.py).


def components(count: int) -> list:
    """An operation of exactly ``count`` components over a document of 1000 characters."""
    # Retain one, insert one, alternately; ending on an insert, so that the rest is one more retain.
    op: list = ([] if count % 2 else ["y"]) + [1, "y"] * ((count - 1) // 2)
    op.append(1000 - sum(c for c in op if type(c) is int))
    assert len(ot.parse(op)) == count
    return op


def test_an_operation_of_exactly_max_components_is_parsed_and_one_more_is_refused():
    """1000 components are an operation; 1001 are invalid-op, naming the limit."""
    assert protocol.MAX_OP_COMPONENTS == 1000
    frame = {"type": "op", "rev": 0, "id": "many"}
    assert len(parse(encode({**frame, "op": components(1000)})).op) == 1000
    error = refusal(encode({**frame, "op": components(1001)}))
    assert (error.code, error.op_id) == ("invalid-op", "many")
    assert "limited to 1000 components" in error.message


@consumer_test
async def test_the_socket_refuses_1001_components_and_then_takes_1000():
    """Refused: nothing stored; then an operation of exactly 1000 components is acknowledged."""
    await anew_document("doc", text="x" * 1000)
    tab, _ = await open_tab()
    await tab.send({"type": "op", "rev": 0, "op": components(1001), "id": "over"})
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("invalid-op", "over")
    assert await aread_document("doc") == (0, "x" * 1000)
    at_limit = components(1000)
    await tab.send({"type": "op", "rev": 0, "op": at_limit, "id": "at-limit"})
    assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "at-limit"}
    assert await aread_document("doc") == (1, ot.apply("x" * 1000, at_limit))
    await tab.close()


@pytest.mark.parametrize("op_id", ["!", "~", "x" * 80, "!" * 40 + "~" * 40])
def test_op_ids_of_1_to_80_printable_ascii_characters_are_accepted(op_id):
    """Both lengths and both ends of the range (! and ~) are ids."""
    assert parse(op_frame("a", op_id=op_id)).op_id == op_id


@pytest.mark.parametrize("op_id", ["", "x" * 81, " ", "\x7f", "é", "a b"])
def test_op_ids_outside_1_to_80_printable_ascii_are_invalid_frames(op_id):
    """Empty, 81 characters, space (just below !) and DEL (just above ~) are refused."""
    assert refusal(op_frame("a", op_id=op_id)).code == "invalid-frame"


@consumer_test
async def test_the_socket_refuses_an_81_character_id_and_acknowledges_an_80_character_one():
    """The 80-character id comes back in the ack; the 81-character one changed nothing."""
    tab, _ = await open_tab()
    await tab.send(op_frame("a", op_id="i" * 81))
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    assert await aread_document("doc") == (0, "")
    await tab.send(op_frame("a", op_id="i" * 80))
    assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "i" * 80}
    await tab.close()


@consumer_test
@pytest.mark.parametrize(("length", "named"), [(80, True), (81, False)])
async def test_a_pending_id_in_the_socket_url_counts_up_to_80_characters(length, named):
    """The snapshot says what became of an 80-character pending id; an 81-character one is ignored."""
    tab, first = await open_tab(query="?pending=" + "p" * length)
    assert first["type"] == "snapshot"
    assert first.get("pending") == ({"id": "p" * length, "rev": None} if named else None)
    await tab.close()


def test_revisions_go_up_to_2_to_the_53_and_not_one_further():
    """rev in op, fetch and caret frames, and caret positions: 2**53 is read, 2**53 + 1 is invalid-frame."""
    top = protocol.MAX_REVISION
    assert top == 2**53
    assert parse(op_frame("a", rev=top)).rev == top
    assert parse(encode({"type": "fetch", "rev": top})).rev == top
    assert parse(encode({"type": "caret", "rev": top, "caret": [top, top]})).end == top
    for frame in [
        {"type": "op", "rev": top + 1, "op": ["a"], "id": "i"},
        {"type": "fetch", "rev": top + 1},
        {"type": "caret", "rev": top + 1, "caret": [0, 0]},
        {"type": "caret", "rev": 0, "caret": [0, top + 1]},
    ]:
        assert refusal(encode(frame)).code == "invalid-frame", frame


@consumer_test
async def test_an_edit_on_revision_2_to_the_53_is_read_and_one_further_is_not():
    """2**53 passes the frame check and meets the engine (future-revision); 2**53 + 1 is invalid-frame."""
    tab, _ = await open_tab()
    await tab.send(op_frame("a", rev=2**53, op_id="top"))
    error = await tab.receive_type("error")
    assert (error["code"], error["id"]) == ("future-revision", "top")
    await tab.send(op_frame("a", rev=2**53 + 1, op_id="past"))
    assert (await tab.receive_type("error"))["code"] == "invalid-frame"
    assert await aread_document("doc") == (0, "")
    await still_usable(tab, rev=0, length=0)
    await tab.close()


def test_a_resume_revision_in_the_socket_url_has_at_most_15_digits():
    """15 digits are a revision to resume from; 16 are ignored (a fresh connection)."""
    assert protocol.parse_connect_query(b"rev=" + b"9" * 15).rev == 10**15 - 1
    assert protocol.parse_connect_query(b"rev=" + b"9" * 16).rev is None


def test_an_operation_spans_at_most_max_span_characters():
    """2**31 - 1 retained, deleted or summed over components is read; one more is invalid-op."""
    span = protocol.MAX_SPAN
    assert span == 2**31 - 1
    for op in ([span], [-span], [2**30, "a", -(2**30 - 1)]):
        assert parse(encode({"type": "op", "rev": 0, "op": op, "id": "i"})).op == op
    for op in ([span + 1], [-(span + 1)], [2**30, "a", -(2**30)]):
        error = refusal(encode({"type": "op", "rev": 0, "op": op, "id": "i"}))
        assert (error.code, error.op_id) == ("invalid-op", "i"), op
        assert "operations span at most 2147483647 characters" in error.message


# Display names: at most 40 characters (editor/wire/names.py), longer ones cut.


@pytest.mark.parametrize("char", ["a", "😀"])
def test_a_name_of_40_characters_is_kept_and_41_are_cut_to_40(char):
    """Counted in code points: 40 emoji are a name of 40 characters."""
    assert names.MAX_NAME_LENGTH == 40
    assert names.clean_name(char * 40) == char * 40
    assert names.clean_name(char * 41) == char * 40


@consumer_test
@pytest.mark.parametrize(("sent", "shown"), [("😀" * 40, "😀" * 40), ("😀" * 41, "😀" * 40)])
async def test_a_name_in_the_socket_url_is_shown_up_to_40_characters(sent, shown):
    """?name= of 40 characters is the name; of 41, its first 40."""
    tab, first = await open_tab(query="?name=" + quote(sent))
    assert first["name"] == shown
    await tab.close()


async def rename_answer(tab, session: str, old_names: set[str]) -> dict:
    """The server's answer to a rename: an error, or our own person frame under a new name."""
    while True:
        frame = await tab.receive()
        if frame["type"] == "error":
            return frame
        if frame["type"] == "person" and frame["session"] == session and frame["name"] not in old_names:
            return frame


@pytest.fixture
def rename_clock(monkeypatch) -> list[float]:
    """The consumers' clock for the rename interval, set by the test (nothing else reads it)."""
    now = [1000.0]
    monkeypatch.setattr(consumers, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


@consumer_test
async def test_a_rename_to_41_characters_shows_the_first_40(rename_clock):
    """The renamer is told its name as the others see it."""
    tab, first = await open_tab()
    await tab.send({"type": "rename", "name": "n" * 40})
    assert (await rename_answer(tab, first["session"], {first["name"]}))["name"] == "n" * 40
    rename_clock[0] += consumers.RENAME_INTERVAL
    await tab.send({"type": "rename", "name": "m" * 41})
    assert (await rename_answer(tab, first["session"], {first["name"], "n" * 40}))["name"] == "m" * 40
    await tab.close()


@consumer_test
async def test_a_second_rename_is_refused_just_under_the_interval_and_taken_at_exactly_it(rename_clock):
    """RENAME_INTERVAL (1 s) after the last rename a rename is taken; a moment before, rename-too-fast."""
    assert consumers.RENAME_INTERVAL == 1.0
    tab, first = await open_tab()
    session, seen = first["session"], {first["name"]}
    await tab.send({"type": "rename", "name": "Ada"})
    assert (await rename_answer(tab, session, seen))["name"] == "Ada"
    seen.add("Ada")
    rename_clock[0] += 0.999
    await tab.send({"type": "rename", "name": "Bob"})
    assert (await rename_answer(tab, session, seen))["code"] == "rename-too-fast"
    rename_clock[0] = 1000.0 + consumers.RENAME_INTERVAL
    await tab.send({"type": "rename", "name": "Cy"})
    assert (await rename_answer(tab, session, seen))["name"] == "Cy"
    await tab.close()


# MAX_REBASE_WORK (editor/ot/server.py): the work of rebasing one edit under the lock.


def rebase_case(extra: int) -> list[ot.Operation]:
    """200 revisions on a 1000-character document, costing MAX_REBASE_WORK + ``extra`` to rebase over.

    The cost is the edit's components times the revisions since, plus the
    components of those revisions: 200 * 997 + 200 * 3 = 200,000, and one
    more for each revision of four components instead of three.
    """
    committed, length = [], 1000
    for n in range(200):
        # Insert after the first character; the first ``extra`` ones also delete the next one.
        committed.append([1, "ab", -1, length - 2] if n < extra else [1, "a", length - 1])
        length += 1
    work = len(committed) * 997 + sum(len(op) for op in committed)
    assert work == engine.MAX_REBASE_WORK + extra == 200_000 + extra
    return committed


def test_a_rebase_of_exactly_max_rebase_work_is_done_and_one_step_more_is_stale_revision():
    """At the budget the edit is transformed over all 200 revisions; one step over, catch up first."""
    edit = components(997)
    rebased = engine.rebase(edit, base_rev=0, head_rev=200, head_length=1200, committed_since=rebase_case(0))
    assert ot.base_length(rebased) == 1200
    assert ot.target_length(rebased) == 1200 + ot.target_length(edit) - 1000
    with pytest.raises(engine.EditRejected) as refused:
        engine.rebase(edit, base_rev=0, head_rev=200, head_length=1200, committed_since=rebase_case(1))
    assert refused.value.code == "stale-revision"
    assert "too far behind revision 200" in refused.value.message


# End to end: a real server process, its limits set in its environment.


class RawTab:
    """A WebSocket to a real server, reading frames (batches unpacked) in order."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.unread: list[dict] = []

    async def receive_type(self, kind: str) -> dict:
        while True:
            while self.unread:
                frame = self.unread.pop(0)
                if frame["type"] == kind:
                    return frame
            frame = json.loads(await asyncio.wait_for(self.socket.recv(), TIMEOUT))
            self.unread.extend(frame["frames"] if frame["type"] == "batch" else [frame])


def served_config(worker, slug: str) -> dict:
    with urllib.request.urlopen(f"{worker.http_url}/d/{slug}/", timeout=TIMEOUT) as response:
        config, _ = page_parts(response.read().decode())
    return config


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_a_server_started_with_limits_announces_them_and_enforces_them_at_the_boundary(start_worker):
    """EDITOR_MAX_* in a worker's environment: its page says so, its socket takes exactly that much."""
    worker = start_worker("limits", EDITOR_MAX_DOCUMENT_CHARS="200", EDITOR_MAX_FRAME_BYTES="600")
    config = served_config(worker, "e2e")
    assert (config["maxDocumentChars"], config["maxFrameBytes"]) == (200, 600)
    max_chars, max_bytes = config["maxDocumentChars"], config["maxFrameBytes"]
    url = f"{worker.ws_url}/ws/docs/e2e/"
    # Frames: one byte past the announced size ends the connection with 1009 and a close frame.
    async with websockets.connect(url, origin=worker.http_url, max_size=2**22) as socket:
        assert (await RawTab(socket).receive_type("snapshot"))["rev"] == 0
        await socket.send(append_frame_of_size(max_bytes + 1, "é€😀", op_id="frame-over"))
        await expect_closed(socket, 1009)
    # Exactly it is taken (astral text).
    async with websockets.connect(url, origin=worker.http_url, max_size=2**22) as socket:
        tab = RawTab(socket)
        assert (await tab.receive_type("snapshot"))["rev"] == 0
        at_limit = append_frame_of_size(max_bytes, "é€😀", op_id="frame-at")
        await socket.send(at_limit)
        assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "frame-at"}
        text = inserted_text(at_limit)
        # Characters: up to exactly the announced count, then one more.
        rest = "😀" * (max_chars - len(text))
        await socket.send(op_frame(rest, rev=1, length=len(text), op_id="chars-at"))
        assert await tab.receive_type("ack") == {"type": "ack", "rev": 2, "id": "chars-at"}
        await socket.send(op_frame("😀", rev=2, length=max_chars, op_id="chars-over"))
        error = await tab.receive_type("error")
        assert (error["code"], error["id"]) == ("document-too-large", "chars-over")
    assert await aread_document("e2e") == (2, text + rest)
    assert len(text + rest) == max_chars


# Daphne alone refuses messages over 1 MiB (--websocket-max-message-size, FIELD-NOTES 12) by
# dropping TCP; the editor's server (editor/server.py) sets the socket's limit to
# EDITOR_MAX_FRAME_BYTES and answers with a close frame.


async def expect_closed(socket, code: int) -> None:
    """The server closed the connection with ``code`` in a close frame (not a dropped TCP connection)."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in socket:  # frames sent before the close
            pass
    assert socket.protocol.close_rcvd is not None, "no close frame: the TCP connection was dropped"
    assert socket.protocol.close_rcvd.code == code


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_a_frame_limit_above_one_mebibyte_is_what_the_socket_takes(start_worker):
    """With EDITOR_MAX_FRAME_BYTES=2 MiB, a frame of 1 MiB + 1 byte (under it) is acknowledged,
    and one of 2 MiB + 1 byte gets 1009, before its payload is sent."""
    worker = start_worker(
        "big-frames",
        EDITOR_MAX_FRAME_BYTES=str(2 * 1024 * 1024),
        EDITOR_MAX_DOCUMENT_CHARS=str(4 * 1024 * 1024),
    )
    config = served_config(worker, "big")
    assert config["maxFrameBytes"] == 2 * 1024 * 1024
    url = f"{worker.ws_url}/ws/docs/big/"
    async with websockets.connect(url, origin=worker.http_url, max_size=2**23) as socket:
        tab = RawTab(socket)
        await tab.receive_type("snapshot")
        await socket.send(append_frame_of_size(1024 * 1024 + 1, "a", op_id="big"))
        assert await tab.receive_type("ack") == {"type": "ack", "rev": 1, "id": "big"}
    async with websockets.connect(url, origin=worker.http_url, max_size=2**23) as socket:
        await RawTab(socket).receive_type("snapshot")
        await socket.send(append_frame_of_size(2 * 1024 * 1024 + 1, "a", op_id="bigger", rev=1))
        await expect_closed(socket, 1009)
    assert (await aread_document("big"))[0] == 1


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_a_message_over_the_limit_in_fragments_gets_1009(start_worker):
    """The limit is on the message: fragments each under it, together one byte over, are refused."""
    worker = start_worker("fragments", EDITOR_MAX_FRAME_BYTES="600")
    async with websockets.connect(f"{worker.ws_url}/ws/docs/parts/", origin=worker.http_url) as socket:
        await RawTab(socket).receive_type("snapshot")
        frame = append_frame_of_size(601, "a", op_id="parts")
        await socket.send(iter([frame[:300], frame[300:]]))
        await expect_closed(socket, 1009)
    assert await aread_document("parts") == (0, "")


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
async def test_a_text_frame_that_is_not_utf8_gets_1007_and_changes_nothing(start_worker):
    """Invalid UTF-8 in a text frame (a lone continuation byte): close 1007 with a close frame."""
    worker = start_worker("utf8")
    async with websockets.connect(f"{worker.ws_url}/ws/docs/bytes/", origin=worker.http_url) as socket:
        await RawTab(socket).receive_type("snapshot")
        # Bytes sent as a text frame: the library does not check them.
        await socket.send(b'{"type":"op","rev":0,"op":["\x80"],"id":"bad"}', text=True)
        await expect_closed(socket, 1007)
    assert await aread_document("bytes") == (0, "")


PRINT_VISIBILITY = (
    "import django; django.setup(); from django.conf import settings;"
    " print(settings.EDITOR_NEW_DOCUMENT_VISIBILITY)"
)


@pytest.mark.parametrize(
    ("value", "starts"),
    [("public", True), ("view-only", True), ("private", True), ("Private", False), ("shared", False)],
)
def test_the_new_documents_visibility_is_one_of_the_three_or_startup_stops(value, starts):
    result = run_settings(PRINT_VISIBILITY, EDITOR_NEW_DOCUMENT_VISIBILITY=value)
    assert (result.returncode == 0) is starts, result.stderr
    if starts:
        assert result.stdout.strip() == value
    else:
        assert "EDITOR_NEW_DOCUMENT_VISIBILITY must be public, view-only or private" in result.stderr
