"""The whole algorithm without a network: server engine plus protocol clients.

Messages are delivered in random order where the real system allows it (a
broadcast and an ack from different workers can cross), clients disconnect
and resume with pending edits, and at the end every client and the server
hold the same text with every acknowledged insert in it.
"""

import random
from collections import Counter
from urllib.parse import parse_qs

import pytest

from editor.ot import server
from editor.ot.client import ProtocolClient
from tests.randomized import Keystrokes

GAP_TIMEOUT_STEPS = 8


class SimulatedServer:
    """The consumer's logic over an in-memory log, with an inbox per client.

    Inbox entries are (relayed, frame): frames a client's own consumer sends
    (acks, snapshots, catch-up) keep their order; broadcasts relayed through
    the channel layer from other workers may overtake them and each other.
    """

    def __init__(self, rng: random.Random, retain: int, retain_age: int) -> None:
        self.now = 0  # the simulation's clock: one tick per step
        self.log = server.MemoryLog(text="", retain=retain, retain_age=retain_age, clock=lambda: self.now)
        self.rng = rng
        self.inboxes: dict[int, list[tuple[bool, dict]]] = {}

    def _snapshot(self, index: int, pending: str | None) -> dict:
        frame = {"type": "snapshot", "rev": self.log.rev, "text": self.log.text, "session": str(index)}
        if pending is not None:
            applied = self.log.find(pending)
            frame["pending"] = {"id": pending, "rev": applied.rev if applied else None}
        return frame

    def _direct(self, index: int, *frames: dict) -> None:
        self.inboxes[index].extend((False, frame) for frame in frames)

    @staticmethod
    def _op_frame(logged: server.LoggedOperation) -> dict:
        return {
            "type": "op",
            "rev": logged.rev,
            "op": logged.op,
            "id": logged.op_id,
            "session": logged.session_id,
        }

    def connect(self, index: int, client: ProtocolClient) -> None:
        self.inboxes[index] = []
        query = parse_qs(client.resume_query().lstrip("?"))
        pending = query.get("pending", [None])[0]
        missed = server.catch_up(self.log, int(query["rev"][0])) if "rev" in query else None
        if missed is None:
            self._direct(index, self._snapshot(index, pending))
        else:
            self._direct(index, {"type": "resume", "rev": self.log.rev, "session": str(index)})
            self._direct(index, *(self._op_frame(m) for m in missed))

    def handle(self, index: int, frame: dict) -> None:
        if frame["type"] == "fetch":
            missed = server.catch_up(self.log, frame["rev"])
            if missed is None:
                self._direct(index, self._snapshot(index, None))
            else:
                self._direct(index, *(self._op_frame(m) for m in missed))
            return
        try:
            edit = server.Edit(
                slug="doc", base_rev=frame["rev"], op=frame["op"], op_id=frame["id"], session_id=str(index)
            )
            accepted = server.accept(self.log, edit, max_chars=10**6)
        except server.EditRejected as error:
            self._direct(
                index, {"type": "error", "code": error.code, "message": error.message, "id": frame["id"]}
            )
            return
        self._direct(index, {"type": "ack", "rev": accepted.operation.rev, "id": frame["id"]})
        if not accepted.duplicate:
            for other, inbox in self.inboxes.items():
                if other != index:
                    inbox.append((True, self._op_frame(accepted.operation)))

    def deliverable(self, index: int, reorder: bool) -> int:
        """Position of a frame that may arrive next."""
        inbox = self.inboxes[index]
        first_direct = next((n for n, (relayed, _) in enumerate(inbox) if not relayed), None)
        choices = [n for n, (relayed, _) in enumerate(inbox[:3]) if relayed]
        if first_direct is not None:
            choices.append(first_direct)
        return self.rng.choice(choices) if reorder else min(choices)


RETAIN_REVISIONS = 10  # a short history, so that resumes also go through snapshots
RETAIN_STEPS = 300  # far longer than frames take to arrive, as an hour is for real


def run_simulation(seed: int, clients: int = 4, steps: int = 2000) -> Counter:
    """Random steps, then quiesce and check convergence and that no keystroke is lost.

    Time is counted in steps. The network is faster than typing (a step
    delivers a few frames). Sockets drop with frames in flight and come back
    within a few dozen steps; now and then a synchronised tab goes away for
    longer than the server keeps history, typing meanwhile, so that it comes
    back through a snapshot and a rebase. Returns how often each recovery
    path was taken.
    """
    paths: Counter = Counter()
    rng = random.Random(seed)
    server = SimulatedServer(rng, RETAIN_REVISIONS, RETAIN_STEPS)
    tabs = [ProtocolClient(id_prefix=f"c{i}") for i in range(clients)]
    typists = [Keystrokes(rng, i) for i in range(clients)]
    outboxes: dict[int, list[dict]] = {i: [] for i in range(clients)}
    away_until: dict[int, int] = {}  # tab -> step it reconnects at
    gap_age = [0] * clients

    def drop(i: int, until: int) -> None:
        """The socket drops: frames in flight both ways are lost."""
        away_until[i] = until
        tabs[i].disconnected()
        outboxes[i].clear()
        server.inboxes[i] = []

    def reconnect(i: int) -> None:
        del away_until[i]
        server.connect(i, tabs[i])

    def deliver_to_client(i: int, reorder: bool) -> None:
        _, frame = server.inboxes[i].pop(server.deliverable(i, reorder))
        tab = tabs[i]
        if frame["type"] == "op" and tab.outstanding and frame["id"] == tab.outstanding.op_id:
            paths["own edit replayed on resume"] += 1
        if frame["type"] == "snapshot" and tab.rev is not None:
            paths["snapshot after history was forgotten"] += 1
            if tab.outstanding:
                paths["pending edits rebased on a snapshot"] += 1
        paths[f"frame {frame['type']}"] += 1
        outboxes[i].extend(tab.receive(frame))
        if tabs[i].needs_reconnect:
            drop(i, until=0)
            reconnect(i)

    for i in range(clients):
        server.connect(i, tabs[i])
        deliver_to_client(i, reorder=False)

    for step in range(steps):
        server.now = step
        for i, until in list(away_until.items()):
            if step >= until:
                reconnect(i)
        i = rng.randrange(clients)
        online = i not in away_until
        roll = rng.random()
        if roll < 0.35:
            outboxes[i].extend(tabs[i].local_edit(typists[i].edit(tabs[i].text)))
        elif roll < 0.6 and online:
            for _ in range(min(len(outboxes[i]), rng.randint(1, 3))):
                server.handle(i, outboxes[i].pop(0))
        elif roll < 0.9 and online:
            for _ in range(rng.randint(1, 6)):
                if i not in away_until and server.inboxes[i]:
                    deliver_to_client(i, reorder=True)
        elif roll < 0.91 and online and server.inboxes[i]:
            # A broadcast is lost (Redis restarted): the tab must notice the gap.
            entry = rng.choice(server.inboxes[i])
            if entry[0]:
                server.inboxes[i].remove(entry)
        elif roll < 0.93 and online:
            drop(i, until=step + rng.randint(1, 40))
        elif roll < 0.94 and online and tabs[i].state == "synchronised" and not server.inboxes[i]:
            drop(i, until=step + rng.randint(RETAIN_STEPS + 50, RETAIN_STEPS + 200))
        # The gap timer: a gap still open after a while is fetched.
        gap_age[i] = gap_age[i] + 1 if i not in away_until and tabs[i].has_gap else 0
        if gap_age[i] > GAP_TIMEOUT_STEPS:
            outboxes[i].append(tabs[i].fetch_frame())
            paths["gap fetched"] += 1
            gap_age[i] = 0

    # Quiesce: everyone reconnects, then deliver everything in order.
    for i in list(away_until):
        reconnect(i)
    for _ in range(10_000):
        busy = False
        for i in range(clients):
            while server.inboxes[i]:
                deliver_to_client(i, reorder=False)
                busy = True
            while outboxes[i]:
                server.handle(i, outboxes[i].pop(0))
                busy = True
            if tabs[i].has_gap and not server.inboxes[i]:
                outboxes[i].append(tabs[i].fetch_frame())
                busy = True
        if not busy:
            break

    for i, tab in enumerate(tabs):
        assert tab.state == "synchronised", f"client {i} still has pending edits"
        assert tab.text == server.log.text, f"client {i} diverged"
        assert tab.rev == server.log.rev
    for typist in typists:
        for char in typist.inserted:
            count = server.log.text.count(char)
            assert count == 1, f"keystroke {char!r} found {count} times"
    paths["history forgotten"] += server.log.operations[0][1].rev > 1
    return paths


SEEDS = range(20)


@pytest.mark.parametrize("seed", SEEDS)
def test_clients_converge_when_frames_cross_get_lost_and_sockets_drop(seed):
    run_simulation(seed)


def test_the_random_runs_take_every_recovery_path():
    """The runs above are only worth something if they exercise the hard paths."""
    paths = sum((run_simulation(seed) for seed in SEEDS), Counter())
    for path in [
        "frame resume",
        "own edit replayed on resume",
        "gap fetched",
        "history forgotten",
        "snapshot after history was forgotten",
        "pending edits rebased on a snapshot",
    ]:
        assert paths[path] > 0, f"no run took the path: {path} ({dict(paths)})"
