"""The load generator's own arithmetic: percentiles and how clients are spread."""

import asyncio
import io
import json
import random
import subprocess
import sys

import pytest

from bench import compare
from bench.clients import EditorClient
from bench.histogram import Histogram
from bench.loadgen import Scenario, _assignments


def test_percentiles_are_within_one_percent():
    samples = [random.Random(7).lognormvariate(8, 1) for _ in range(20_000)]
    histogram = Histogram()
    for sample in samples:
        histogram.add(sample)
    samples.sort()
    for fraction in (0.5, 0.9, 0.99):
        exact = samples[int(fraction * len(samples)) - 1]
        assert abs(histogram.percentile(fraction) - exact) / exact < 0.011
    assert histogram.max_us == max(samples)


def test_histograms_merge_across_agent_processes():
    one, other = Histogram(), Histogram()
    for value in range(1, 1001):
        (one if value % 2 else other).add(value)
    merged = Histogram.from_state(one.state())
    merged.merge(Histogram.from_state(other.state()))
    assert merged.count == 1000
    assert abs(merged.percentile(0.5) - 500) < 6


def test_a_sample_can_stand_for_several():
    histogram = Histogram()
    histogram.add(10.0, 3)
    histogram.add(1000.0)
    assert histogram.count == 4
    assert histogram.percentile(0.75) < 11 < histogram.percentile(1.0)


async def test_the_editor_client_counts_every_keystroke_a_batch_delivers():
    """Folded keystrokes count one each, all with the latency of the oldest."""
    delivered = []
    client = EditorClient("ws://x", "room", "me", lambda typed, now, keys: delivered.append((typed, keys)))
    client.rev, client.length, client.deltas = 0, 0, {}
    frames = [
        {"type": "op", "rev": 1, "op": ["kk"], "id": "a:1:100", "session": "a"},
        {"type": "op", "rev": 2, "op": [2, "k"], "id": "b:1:200", "session": "b"},
    ]
    await client.on_message(json.dumps({"type": "batch", "frames": frames}))
    assert delivered == [(100, 2), (200, 1)]
    assert (client.rev, client.length) == (2, 3)


def test_every_room_spans_every_server_and_typists_are_spread():
    scenario = Scenario("rooms", rooms=50, clients_per_room=4, typists_per_room=1, interval=0.1, duration=1)
    plan = _assignments(scenario, ["ws://a", "ws://b"], agents=2)
    clients = [spec for agent in plan for spec in agent]
    assert len(clients) == 200
    for room in {spec[1] for spec in clients}:
        assert {spec[0] for spec in clients if spec[1] == room} == {"ws://a", "ws://b"}
    typists = [spec[0] for spec in clients if spec[3]]
    assert typists.count("ws://a") == typists.count("ws://b") == 25
    assert [len(agent) for agent in plan] == [100, 100]


def test_ab_exports_a_revision_whose_bench_imports_from_the_export(tmp_path):
    from bench import ab

    tree = ab.export("HEAD", tmp_path)
    imported = subprocess.run(
        [sys.executable, "-c", "import bench.compare, bench.targets; print(bench.targets.ROOT)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(tree)


def test_the_profile_charges_a_sample_to_the_innermost_step_its_stack_names(tmp_path):
    from bench.profile import read_raw, step_of

    commit = [
        "run (twisted/internet/base.py:1)",
        "submit (editor/live/committer.py:9)",
        "send (psycopg/x.py:3)",
    ]
    decode = ["receive (editor/consumers.py:5)", "decode (/usr/lib/python3.11/json/decoder.py:2)"]
    assert step_of(commit) == "commit (store/, committer, psycopg)"
    assert step_of(decode) == "JSON encode / decode"
    assert step_of(["<module> (somewhere.py:1)"]) == "other (threads, interpreter)"
    raw = tmp_path / "worker0.txt"
    raw.write_text(f"{';'.join(commit)} 7\n{';'.join(decode)} 3\n")
    assert read_raw(raw) == {"commit (store/, committer, psycopg)": 7, "JSON encode / decode": 3}


def test_a_refused_editor_client_fails_to_connect_instead_of_counting_as_connected():
    client = EditorClient("ws://127.0.0.1:1", "room", "tab", lambda *_: None)
    with pytest.raises(ConnectionRefusedError, match="too-many-connections"):
        client._start({"type": "error", "code": "too-many-connections", "message": "at most 100"})


async def test_the_idle_holder_counts_only_the_connections_the_server_took(monkeypatch, capsys):
    class Client:
        def __init__(self, url, room, name, deliver):
            self.number = int(name.removeprefix("idle"))

        async def connect(self):
            if self.number % 3 == 0:
                raise ConnectionRefusedError("too-many-connections: at most 100")

        async def run(self):
            await asyncio.Event().wait()

    monkeypatch.setitem(compare.CLIENTS, "fake", Client)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # closed at once: stop holding
    await compare._hold_idle("fake", "ws://127.0.0.1:1", 9)
    report = json.loads(capsys.readouterr().out)
    assert (report["connected"], report["failed"]) == (6, 3)
    assert report["errors"][0] == "ConnectionRefusedError: too-many-connections: at most 100"


def test_the_memory_bench_groups_allocations_by_layer():
    from bench.memory import layer_of

    site = "/work/.venv/lib/python3.11/site-packages"
    assert layer_of(f"{site}/daphne/ws_protocol.py") == "daphne/ws_protocol.py"
    assert layer_of(f"{site}/twisted/web/http.py") == "twisted/web"
    assert layer_of("/usr/lib/python3.11/asyncio/queues.py") == "asyncio/queues.py"
    assert layer_of("/work/main/editor/live/hub.py") == "editor/live"
    assert layer_of(f"{site}/txaio/aio.py") == "txaio"
    assert layer_of("/usr/lib/python3.11/threading.py") == "threading.py"


def test_connect_profile_counts_each_function_once_per_sample():
    from bench.connect_profile import shares

    collapsed = "\n".join(
        [
            "thread (0x7f01);run (/x/site-packages/a.py:1);"
            "f (/x/site-packages/a.py:5);f (/x/site-packages/a.py:5) 3",
            "thread (0x7f02);run (/x/site-packages/a.py:1);g (/x/site-packages/b.py:9) 2",
            "garbage line",
        ]
    )
    total, functions, files, leaves = shares(collapsed)
    assert total == 5
    assert functions["run (a.py)"] == 5
    assert functions["f (a.py)"] == 3  # recursion counted once
    assert files == {"a.py": 5, "b.py": 2}  # no thread ids among the files
    assert leaves == {"f (a.py:5)": 3, "g (b.py:9)": 2}
