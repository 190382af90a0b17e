"""Thousands of generated frames at the shipped consumer, on real documents.

Every frame gets a well-formed answer (an error code docs/protocol.md lists, or what the
frame asks for) or a documented close; no exception escapes (the autouse ``logged_errors``
fixture fails the test on any logged error); the document changes only by the valid
edits, exactly as the acknowledgements say.
"""

import itertools
import json
import random
import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor import ot
from editor.live import worker
from editor.live.limits import Rate, Rates
from tests.documents import aread_document
from tests.randomized import random_operation
from tests.tabs import open_tab

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
DOCUMENTED_CODES = set(
    re.findall(r"^\| `([a-z-]+)` \|", PROTOCOL.read_text().split("## Errors", 1)[1], flags=re.MULTILINE)
)
GENEROUS = Rate(1_000_000, 1_000_000)
# Each frame is followed by a ping; what comes before its pong is that frame's answer.
PING = {"type": "ping"}
TYPES = [
    "op",
    "caret",
    "fetch",
    "ping",
    "rename",
    "history",
    "save-version",
    "revert",
    "diff",
    "snapshot",
    "",
    None,
    7,
    "OP",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
component = (
    st.integers(min_value=-(2**60), max_value=2**60)
    | st.text(max_size=6)
    | st.just(0)
    | st.just("")
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
)
# What a frame is made of: kept abstract here, made concrete against the document's state
# when it is sent, so that some are exactly right and the rest wrong in every way.
frame_plans = st.one_of(
    st.tuples(st.just("valid edit"), st.integers(0, 2**32)),
    st.tuples(st.just("edit on an old revision"), st.integers(0, 2**32)),
    st.tuples(st.just("resend"), st.integers(0, 2**32)),
    st.tuples(st.just("reused id, other content"), st.integers(0, 2**32)),
    st.tuples(st.just("raw op"), st.lists(component, max_size=6), json_values, json_values),
    st.tuples(st.just("caret"), json_values, json_values),
    st.tuples(st.just("fetch"), json_values),
    st.tuples(st.just("rename"), json_values),
    st.tuples(st.just("history"), json_values),
    st.tuples(st.just("diff"), json_values, json_values),
    st.tuples(st.just("diff of revisions"), st.integers(0, 40), st.integers(0, 40)),
    st.tuples(st.just("revert of a session"), st.booleans()),
    st.tuples(st.just("revert"), json_values, json_values),
    st.tuples(
        st.just("object"),
        st.sampled_from(TYPES),
        st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    ),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("text"), st.text(min_size=1, max_size=40)),  # Daphne drops empty messages
)


class Session:
    """One tab's view of the document, as its acknowledgements build it."""

    def __init__(self, tab, first: dict) -> None:
        self.tab = tab
        self.rev = first["rev"]
        self.text = first["text"]
        self.session = first["session"]
        self.history = [(self.rev, self.text)]  # (rev, text) of every revision seen
        self.ids = itertools.count()
        self.acked: dict[str, tuple[int, list]] = {}  # id -> (base rev, op) of edits applied
        self.op_at: dict[int, list] = {}  # rev -> the operation stored at it

    def concrete(self, plan: tuple) -> str:
        kind, *args = plan
        if kind in ("valid edit", "edit on an old revision", "resend", "reused id, other content"):
            rng = random.Random(args[0])
            if kind == "resend" and self.acked:
                op_id = rng.choice(sorted(self.acked))
                base, op = self.acked[op_id]
                return json.dumps({"type": "op", "rev": base, "op": op, "id": op_id})
            if kind == "reused id, other content" and self.acked:
                op_id = rng.choice(sorted(self.acked))
                base, op = self.acked[op_id]
                text = dict(self.history)[base]
                other = ot.normalize([len(text), "¤"]) if text else ["¤"]
                return json.dumps({"type": "op", "rev": base, "op": other, "id": op_id})
            base, text = (
                rng.choice(self.history) if kind == "edit on an old revision" else (self.rev, self.text)
            )
            op = random_operation(rng, text)
            return json.dumps({"type": "op", "rev": base, "op": op, "id": f"fuzz-{next(self.ids)}"})
        if kind == "raw op":
            components, rev, op_id = args
            return json.dumps({"type": "op", "rev": rev, "op": components, "id": op_id})
        if kind == "caret":
            return json.dumps({"type": "caret", "rev": args[0], "caret": args[1]})
        if kind == "fetch":
            return json.dumps({"type": "fetch", "rev": args[0]})
        if kind == "rename":
            return json.dumps({"type": "rename", "name": args[0]})
        if kind == "history":
            return json.dumps({"type": "history", "rev": args[0]})
        if kind == "revert":
            return json.dumps({"type": "revert", "authors": args[0], "since": args[1]})
        if kind == "diff":
            return json.dumps({"type": "diff", "from": args[0], "to": args[1]})
        if kind == "diff of revisions":  # often real ones, sometimes past the head
            return json.dumps({"type": "diff", "from": min(args), "to": max(args)})
        if kind == "revert of a session":  # this tab's own edits: an edit that applies
            authors = [f"session:{self.session}"] if args[0] else ["session:nobody"]
            return json.dumps({"type": "revert", "authors": authors})
        if kind == "object":
            return json.dumps({**args[1], "type": args[0]})
        if kind == "json":
            return json.dumps(args[0])
        return args[0]

    async def exchange(self, frame: str) -> list[dict]:
        """Send the frame and a ping; the frames that answer it, the pong left out."""
        await self.tab.send(frame)
        await self.tab.send(PING)
        pongs = 2 if _loaded(frame).get("type") == "ping" else 1  # the frame may be a ping itself
        answer = []
        while pongs:
            answer += await self.tab.receive_until(lambda received: received["type"] == "pong")
            pongs -= 1
        return [received for received in answer if received["type"] != "pong"]

    def check(self, frame: str, answer: list[dict]) -> None:
        sent = _loaded(frame)
        for received in answer:
            kind = received["type"]
            if kind == "error":
                assert received["code"] in DOCUMENTED_CODES, (frame, received)
                assert isinstance(received["message"], str)
            elif kind == "ack":
                assert sent["id"] == received["id"]
                self._acknowledged(sent, received["rev"])
            elif kind == "op":
                assert received["rev"] <= self.rev, "only revisions already acknowledged here"
            elif kind == "snapshot":
                assert (received["rev"], received["text"]) == (self.rev, self.text)
            elif kind == "history":
                assert received["text"] == dict(self.history)[received["rev"]]
            elif kind == "revert":
                assert received["rev"] == self.rev
                ot.apply(self.text, received["op"])  # an edit on the head: it applies
            elif kind == "diff":
                texts = dict(self.history)
                kept = [c["text"] for c in received["changes"] if c["kind"] != "insert"]
                made = [c["text"] for c in received["changes"] if c["kind"] != "delete"]
                assert "".join(kept) == texts[received["from"]]
                assert "".join(made) == texts[received["to"]]
            else:
                assert kind == "person", (frame, received)

    def _acknowledged(self, sent: dict, rev: int) -> None:
        if sent["id"] in self.acked:
            return  # a resend: the same revision again, nothing applied
        assert rev == self.rev + 1, "one client alone: each new edit is the next revision"
        op = sent["op"]
        # Rebased over what came after its base (only this client's own edits).
        for later_rev, _ in self.history:
            if later_rev > sent["rev"]:
                op, _ = ot.transform(op, self.op_at[later_rev])
        self.text = ot.apply(self.text, op)
        self.rev = rev
        self.history.append((rev, self.text))
        self.op_at[rev] = op
        self.acked[sent["id"]] = (sent["rev"], sent["op"])


def _loaded(frame: str) -> dict:
    try:
        value = json.loads(frame)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


slugs = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(frame_plans, min_size=1, max_size=40))
def test_generated_frames_get_documented_answers_and_change_the_document_only_by_valid_edits(
    plans, settings_
):
    settings_.EDITOR_RATES = Rates(GENEROUS, GENEROUS, GENEROUS, GENEROUS, GENEROUS)
    async_to_sync(_run)(plans, f"fuzz{next(slugs)}")


async def _run(plans: list[tuple], slug: str) -> None:
    """One example, on an event loop of its own (and so a worker of its own, stopped after)."""
    try:
        tab, first = await open_tab(slug)
        session = Session(tab, first)
        for plan in plans:
            frame = session.concrete(plan)
            session.check(frame, await session.exchange(frame))
        assert await aread_document(slug) == (session.rev, session.text)
        await tab.close()
    finally:
        await worker.stop()


@pytest.fixture
def settings_(settings):
    """pytest-django's settings, under a name hypothesis' ``given`` does not take for a strategy."""
    return settings
