"""The browser's client.js and its Python twin, editor/ot/client.py, agree after each event of random runs.

Python plays one tab against a small model of the server (seeded): local edits, other people's edits,
acknowledgements, errors about the outstanding edit, frames that overtake each other or are lost, batches,
pongs, gap fetches, reconnections answered with a resume or a snapshot. tests/js/client-parity-runner.js
plays the same events through EditorClient; both must show, hold and send the same after each one.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import random
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from editor import ot
from editor.ot.client import ProtocolClient
from tests.randomized import random_operation, random_text

RUNNER = Path(__file__).parent.parent / "js" / "client-parity-runner.js"
SESSIONS = 400
STEPS = 60
ERRORS_ABOUT_AN_EDIT = ["invalid-op", "stale-revision", "internal-error", "read-only", "document-too-large"]

Frame = dict[str, Any]


class PythonTab:
    """Plays events on the Python twin and observes it as the runner observes client.js.

    The twin leaves timing to its caller; this caller does what client.js does: a frame that leaves a gap
    open (re)starts the gap timer, and a timer that runs out fetches the gap.
    """

    def __init__(self) -> None:
        self.client = ProtocolClient(id_prefix="me")
        self.timer_ran_out = False  # since the last frame that could have restarted the timer

    @property
    def gap_timer(self) -> bool:
        return self.client.has_gap and self.client.live and not self.timer_ran_out

    def handle(self, event: Frame) -> Frame:
        client = self.client
        if event["kind"] == "edit":
            sent = client.local_edit(copy.deepcopy(event["op"]))
        elif event["kind"] == "receive":
            sent = self.receive(event["frame"])
        elif event["kind"] == "connect":
            sent = [frame for opening in event["frames"] for frame in self.receive(opening)]
        elif event["kind"] == "disconnect":
            client.disconnected()
            sent = []
        else:  # the gap timer runs out
            sent = [client.fetch_frame()] if self.gap_timer else []
            self.timer_ran_out = True
        return self.observe(sent)

    def receive(self, frame: Frame) -> list[Frame]:
        rev = self.client.rev
        frames = frame["frames"] if frame["type"] == "batch" else [frame]
        if rev is not None and any(f["type"] in ("op", "ack", "pong") and f["rev"] > rev for f in frames):
            self.timer_ran_out = False
        return self.client.receive(copy.deepcopy(frame))

    def observe(self, sent: list[Frame]) -> Frame:
        client = self.client
        outstanding = client.outstanding
        observation = {
            "text": client.text,
            "shown": client.text,
            "serverText": client.server_text,
            "rev": client.rev,
            "state": client.state,
            "outstanding": outstanding and [outstanding.op_id, outstanding.op],
            "buffer": client.buffer,
            "early": sorted(client.early),
            "hasGap": client.has_gap,
            "gapTimer": self.gap_timer,
            "live": client.live,
            "session": client.session,
            "query": client.resume_query(),
            "resync": client.needs_reconnect,
            "sent": sent,
        }
        return json.loads(json.dumps(observation))


@dataclass(frozen=True)
class Logged:
    """One revision as the server stores it."""

    rev: int
    op: ot.Operation
    op_id: str
    session: str

    def frame(self) -> Frame:
        return {"type": "op", "rev": self.rev, "op": self.op, "id": self.op_id, "session": self.session}


class Server:
    """One document as the server keeps it, and the frames on their way to and from one tab."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rev = rng.randint(0, 3)
        self.texts = {self.rev: random_text(rng)}  # the text at every revision, to check the tab against
        self.log: list[Logged] = []  # the recent revisions: older ones are forgotten
        self.retain = rng.choice([1, 2, 3, 1000])
        self.max_chars = rng.choice([12, 25, 1_000_000])
        self.faults = True  # now and then refuse an edit with an error a failing server sends
        self.read_only = False
        self.session: str | None = None
        self.sessions = itertools.count(1)
        self.other_ids = itertools.count(1)
        self.seqs = itertools.count(1)
        # Sent, not received yet, and whether relayed through pub/sub (other people's edits, presence): those
        # can be lost, and overtake or be overtaken by any other; this socket's own answers keep their order.
        self.to_tab: list[tuple[Frame, bool]] = []
        self.from_tab: list[Frame] = []  # sent by the tab, not handled yet

    @property
    def text(self) -> str:
        return self.texts[self.rev]

    def send(self, frame: Frame, *, relayed: bool = False) -> None:
        self.to_tab.append((frame, relayed))

    def commit(self, op: ot.Operation, op_id: str, session: str) -> Logged:
        logged = Logged(self.rev + 1, op, op_id, session)
        self.texts[logged.rev] = ot.apply(self.text, op)
        self.rev = logged.rev
        self.log.append(logged)
        del self.log[: max(0, len(self.log) - self.retain)]
        return logged

    def since(self, rev: int) -> list[Logged] | None:
        """The revisions after ``rev``, or None when the log no longer reaches back."""
        missed = [logged for logged in self.log if logged.rev > rev]
        return missed if len(missed) == self.rev - rev else None

    def find(self, op_id: str) -> Logged | None:
        return next((logged for logged in self.log if logged.op_id == op_id), None)

    def first_frames(self, query: str) -> list[Frame]:
        """The first frames on a socket with this query: a resume and what was missed, or a snapshot."""
        self.session = f"s{next(self.sessions)}"
        params = {key: values[0] for key, values in parse_qs(query.removeprefix("?")).items()}
        if "rev" in params and (missed := self.since(int(params["rev"]))) is not None:
            return [{"type": "resume", "rev": self.rev, **self.about()}, *(m.frame() for m in missed)]
        snapshot = self.snapshot()
        if "pending" in params:
            applied = self.find(params["pending"])
            snapshot["pending"] = {"id": params["pending"], "rev": applied and applied.rev}
        return [snapshot]

    def about(self) -> Frame:
        return {
            "session": self.session,
            "name": "Curious Otter",
            "color": "#469990",
            "people": 1,
            "read_only": self.read_only,
        }

    def snapshot(self) -> Frame:
        return {"type": "snapshot", "rev": self.rev, "text": self.text, **self.about()}

    def handle(self) -> None:
        """Handle the tab's next frame: an edit, answered with an ack or an error, or a fetch."""
        frame = self.from_tab.pop(0)
        if frame["type"] == "fetch":
            missed = self.since(frame["rev"])
            for answer in [self.snapshot()] if missed is None else [m.frame() for m in missed]:
                self.send(answer)
            return
        roll = self.rng.random() if self.faults else 1
        if roll < 0.04:
            answer = self.error("invalid-op", frame["id"])
        elif roll < 0.08:
            answer = self.error("stale-revision", frame["id"])  # too far behind to rebase under the lock
        elif roll < 0.12:
            if self.rng.random() < 0.5:
                self.accept(frame)  # stored, but the worker failed before it could answer
            answer = self.error("internal-error", frame["id"])
        else:
            answer = self.accept(frame)
        self.send(answer)

    def accept(self, frame: Frame) -> Frame:
        op_id = frame["id"]
        if self.read_only:
            return self.error("read-only", op_id)
        missed = self.since(frame["rev"])
        if missed is None:
            return self.error("stale-revision", op_id)
        for logged in missed:
            if logged.op_id == op_id:  # a resend: its ack was lost
                return {"type": "ack", "rev": logged.rev, "id": op_id}
        if self.find(op_id):
            return self.error("duplicate-id", op_id)
        op = frame["op"]
        assert ot.base_length(op) == len(self.texts[frame["rev"]]), f"the tab sent {frame}: it does not fit"
        for logged in missed:
            op, _ = ot.transform(op, logged.op)
        length = ot.target_length(op)
        if length > self.max_chars and length > len(self.text):
            return self.error("document-too-large", op_id)
        return {"type": "ack", "rev": self.commit(op, op_id, self.session).rev, "id": op_id}

    def error(self, code: str, op_id: str | None = None) -> Frame:
        frame = {"type": "error", "code": code, "message": f"{code} (the test's server)"}
        return frame if op_id is None else {**frame, "id": op_id}


class Scenario:
    """One tab's random session against the server model: its events, and what the Python twin did."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.server = Server(self.rng)
        self.tab = PythonTab()
        self.connected = False
        self.events: list[Frame] = []
        self.observations: list[Frame] = []
        self.seen: Counter[str] = Counter()  # what this session exercised

    @property
    def client(self) -> ProtocolClient:
        return self.tab.client

    def run(self, steps: int) -> Scenario:
        self.connect()
        for _ in range(steps):
            self.step()
        self.settle()
        return self

    def play(self, event: Frame) -> None:
        event = json.loads(json.dumps(event))
        self.note(event)
        observation = self.tab.handle(event)
        self.events.append(event)
        self.observations.append(observation)
        if self.connected:
            self.server.from_tab.extend(observation["sent"])
        if self.client.rev is not None:
            # The model and the Python twin agree, or the events would not be a real server's.
            assert self.client.server_text == self.server.texts[self.client.rev], self.describe(-1)
        self.seen[f"state {self.client.state}"] += 1
        self.seen["early frames held"] += bool(self.client.early)
        self.seen["asked to reconnect"] += self.client.needs_reconnect

    def note(self, event: Frame) -> None:
        """Count what an event exercises, before the tab handles it."""
        outstanding = self.client.outstanding and self.client.outstanding.op_id
        self.seen[event["kind"]] += 1
        if event["kind"] == "timer":
            self.seen["gap fetched"] += 1
        if event["kind"] == "connect":
            first, *catch_up = event["frames"]
            pending = first.get("pending")
            if pending:
                self.seen[f"snapshot: pending {'applied' if pending['rev'] else 'not applied'}"] += 1
            if any(frame["id"] == outstanding for frame in catch_up):
                self.seen["resume: own edit among the missed ones"] += 1
            self.seen[f"connect: {first['type']}"] += 1
        if event["kind"] != "receive":
            return
        frame = event["frame"]
        self.seen[f"frame {frame['type']}"] += 1
        rev = self.client.rev
        for inner in frame["frames"] if frame["type"] == "batch" else [frame]:
            if inner["type"] == "error" and outstanding and inner.get("id") == outstanding:
                self.seen[f"error about the outstanding edit: {inner['code']}"] += 1
            if inner["type"] in ("op", "ack") and inner["rev"] > rev + 1:
                self.seen[f"early {inner['type']}"] += 1
            if inner["type"] == "snapshot" and self.client.live:
                in_flight = "an edit in flight" if outstanding else "synchronised"
                self.seen[f"fetch answered with a snapshot ({in_flight})"] += 1

    def step(self) -> None:
        rng, server = self.rng, self.server
        if not self.connected:
            actions = {"connect": 4, "edit": 3, "remote": 0 if server.read_only else 4}
        elif self.client.needs_reconnect and rng.random() < 0.6:
            actions = {"disconnect": 1}
        else:
            actions = {
                "edit": 3,
                "remote": 0 if server.read_only else 2,
                "handle": 3 if server.from_tab else 0,
                "deliver": 6 if server.to_tab else 0,
                "lose": 0.8 if any(relayed for _, relayed in server.to_tab) else 0,
                "ping": 0.6,
                "timer": 4 if self.tab.gap_timer else 0,
                "presence": 0.5,
                "operator": 0.08,
                "disconnect": 0.4,
            }
        getattr(self, rng.choices(list(actions), list(actions.values()))[0])()

    def connect(self) -> None:
        frames = self.server.first_frames(self.client.resume_query())
        self.connected = True
        self.play({"kind": "connect", "frames": frames})

    def disconnect(self) -> None:
        server = self.server
        reached = self.rng.randint(0, len(server.from_tab))  # what the socket carried before it closed
        del server.from_tab[reached:]
        while server.from_tab:
            server.handle()  # the answers are lost with the socket
        server.to_tab.clear()
        self.connected = False
        self.play({"kind": "disconnect"})

    def edit(self) -> None:
        self.play({"kind": "edit", "op": random_operation(self.rng, self.client.text)})

    def remote(self) -> None:
        op = random_operation(self.rng, self.server.text)
        logged = self.server.commit(op, f"other:{next(self.server.other_ids)}", "other")
        if self.connected:
            self.server.send(logged.frame(), relayed=True)

    def handle(self) -> None:
        self.server.handle()

    def deliver(self, *, in_order: bool = False) -> None:
        rng, to_tab = self.rng, self.server.to_tab
        committed_together = 0  # other people's edits at the head, broadcast one revision after another
        for frame, relayed in to_tab[:3]:
            if not relayed or frame.get("type") != "op":
                break
            if frame["rev"] != to_tab[0][0]["rev"] + committed_together:
                break
            committed_together += 1
        if not in_order and committed_together >= 2 and rng.random() < 0.3:
            # Edits committed together go out in one batch, in revision order, without our own.
            count = rng.randint(2, committed_together)
            frames = [frame for frame, _ in to_tab[:count]]
            del to_tab[:count]
            if rng.random() < 0.3:
                frames.insert(rng.randint(0, count), self.person())
            frame = {"type": "batch", "frames": frames}
        else:
            # A relayed frame can overtake any other; this socket's own answers keep their order.
            heads = to_tab[:3]
            could_come = [
                i for i, (_, relayed) in enumerate(heads) if relayed or all(r for _, r in heads[:i])
            ]
            index = 0 if in_order or rng.random() < 0.7 else rng.choice(could_come)
            frame, _ = to_tab.pop(index)
            self.seen["overtaking frame"] += index > 0
        self.play({"kind": "receive", "frame": frame})

    def lose(self) -> None:
        losable = [index for index, (_, relayed) in enumerate(self.server.to_tab) if relayed]
        del self.server.to_tab[self.rng.choice(losable)]
        self.seen["frame lost"] += 1

    def ping(self) -> None:
        self.server.send({"type": "pong", "rev": self.server.rev})

    def timer(self) -> None:
        self.play({"kind": "timer"})

    def person(self) -> Frame:
        start = self.rng.randint(0, len(self.server.text))
        return {
            "type": "person",
            "session": f"p{self.rng.randint(1, 3)}",
            "seq": next(self.server.seqs),
            "name": "Bob",
            "color": "#4363d8",
            "caret": [start, self.rng.randint(start, len(self.server.text))],
            "rev": self.server.rev,
            "signed_in": False,
        }

    def presence(self) -> None:
        """Frames that must not touch the text: presence, an error about no edit, a later frame type."""
        relayed = [
            self.person(),
            {"type": "leave", "session": f"p{self.rng.randint(1, 3)}"},
            {"type": "batch", "frames": [self.person(), self.person()]},
        ]
        direct = [
            self.server.error("rename-too-fast"),
            {"type": "later-addition", "rev": self.server.rev + 5},
        ]
        index = self.rng.randrange(len(relayed) + len(direct))
        self.server.send([*relayed, *direct][index], relayed=index < len(relayed))

    def operator(self) -> None:
        self.server.read_only = not self.server.read_only
        self.server.send({"type": "mode", "read_only": self.server.read_only}, relayed=True)

    def settle(self) -> None:
        """Without faults or losses, let everything arrive: then the tab has the server's document."""
        self.server.faults = False
        pinged = False
        for _ in range(1000):
            if not self.connected:
                self.connect()
            elif self.client.needs_reconnect:
                self.disconnect()
            elif self.server.from_tab:
                self.server.handle()
            elif self.server.to_tab:
                self.deliver(in_order=True)
            elif self.tab.gap_timer:
                self.timer()
            elif not pinged:
                self.ping()  # a lost last broadcast shows only in a pong
                pinged = True
            else:
                break
        client, server = self.client, self.server
        assert (client.state, client.rev, client.text) == ("synchronised", server.rev, server.text), (
            self.describe(-1)
        )

    def describe(self, index: int) -> str:
        index %= len(self.events)
        lines = [f"session seed {self.seed}, event {index} of {len(self.events)}; the events up to it:"]
        lines += [f"  {i}: {json.dumps(event, ensure_ascii=False)}" for i, event in enumerate(self.events)]
        del lines[index + 2 :]
        return "\n".join(lines)


@functools.cache
def scenarios() -> list[Scenario]:
    return [Scenario(seed).run(STEPS) for seed in range(SESSIONS)]


def play_in_node(sessions: list[list[Frame]]) -> list[list[Frame]]:
    node = shutil.which("node")
    assert node, "Node.js is required for the browser code's tests"
    completed = subprocess.run(
        [node, str(RUNNER)],
        input=json.dumps(sessions),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(completed.stdout)


def test_client_js_and_the_python_twin_show_hold_and_send_the_same_after_every_event():
    """Text shown, server text, revision, state, pending edits, early frames, sends and reconnects agree."""
    played = scenarios()
    results = play_in_node([scenario.events for scenario in played])
    for scenario, observed in zip(played, results, strict=True):
        for index, (python, javascript) in enumerate(zip(scenario.observations, observed, strict=True)):
            assert javascript == python, scenario.describe(index)


def test_the_random_sessions_reach_every_state_frame_and_error():
    """The sessions compared above exercise each part of the protocol many times."""
    seen = sum((scenario.seen for scenario in scenarios()), Counter())
    expected = [
        "edit",
        "receive",
        "disconnect",
        "timer",
        "gap fetched",
        "connect: resume",
        "connect: snapshot",
        "snapshot: pending applied",
        "snapshot: pending not applied",
        "resume: own edit among the missed ones",
        "state synchronised",
        "state awaiting-ack",
        "state awaiting-ack-with-buffer",
        "early op",
        "early ack",
        "early frames held",
        "overtaking frame",
        "frame lost",
        "frame batch",
        "frame pong",
        "frame person",
        "frame mode",
        "frame later-addition",
        "fetch answered with a snapshot (synchronised)",
        "fetch answered with a snapshot (an edit in flight)",
        "asked to reconnect",
        *(f"error about the outstanding edit: {code}" for code in ERRORS_ABOUT_AN_EDIT),
    ]
    assert {name: seen[name] for name in expected if seen[name] < 10} == {}


# Found by this file's random sessions: ot.js's fromDiff compared UTF-16 units, and two astral
# characters that share their first surrogate (😀 U+1F600, 😁 U+1F601) left it a shorter common prefix
# and suffix than ot.py's from_diff: fromDiff("😀", "😁😀") was ["😁😀", -1] where from_diff gives
# ["😁", 1]. A snapshot rebases pending edits over that difference: the offline deletion of the 😀 was
# sent by Python ([1, -1]) and lost by the browser (it showed "😁😀" and sent the no-op [2]).
def test_a_snapshot_rebases_a_pending_edit_the_same_way_next_to_an_emoji():
    """An edit made offline next to an emoji is rebased on a snapshot alike by both twins."""
    about = {"session": "s1", "name": "Curious Otter", "color": "#469990", "people": 1, "read_only": False}
    events = [
        {"kind": "connect", "frames": [{"type": "snapshot", "rev": 0, "text": "😀", **about}]},
        {"kind": "disconnect"},
        {"kind": "edit", "op": [-1]},
        {
            "kind": "connect",
            "frames": [
                {
                    "type": "snapshot",
                    "rev": 1,
                    "text": "😁😀",
                    **about,
                    "session": "s2",
                    "pending": {"id": "me:1", "rev": None},
                }
            ],
        },
    ]
    tab = PythonTab()
    python = [tab.handle(event) for event in events]
    [javascript] = play_in_node([events])
    assert javascript[:-1] == python[:-1]
    assert javascript[-1] == python[-1]
