"""Where an edit's CPU goes in the workers, step by step: py-spy samples both Daphne workers
while a scenario types, and each sample is charged to the innermost step its stack names.

    python -m bench.profile                          # many rooms (50 x 4), 20 s
    python -m bench.profile --scenario human --duration 10 --keep /tmp/stacks

Prints one table: each step's share of the workers' busy samples and, from the workers' CPU
time over the same seconds (psutil), its microseconds per edit. py-spy runs --nonblocking
(it does not pause the workers), at 250 samples a second; idle threads are not sampled.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import compare, loadgen, targets

# A sample is charged to the innermost step of STEPS its stack names (JSON inside the
# fan-out is JSON; psycopg's socket write inside the commit is the commit; asyncio's socket
# write inside the Redis publish is the publish); only a stack that names none of them goes
# to the innermost of PLUMBING (the loops and dispatchers themselves). py-spy writes a frame
# as "function (path:line)", the path shortened to its package ("psycopg/cursor.py",
# "editor/live/hub.py"); the patterns are path prefixes.
STEPS = [
    ("JSON encode / decode", r"json/|orjson"),
    ("validation (wire/protocol.py)", r"editor/wire/protocol\.py"),
    ("engine (ot/)", r"editor/ot/"),
    ("commit (store/, committer, psycopg)", r"editor/store/|editor/live/committer\.py|psycopg/"),
    ("publish and relay (Redis)", r"redis/|channels_redis/|editor/live/redis_layer\.py"),
    ("fan-out (socket writes)", r"editor/live/sockets\.py|editor/wire/websocket\.py"),
    ("presence and hub", r"editor/live/(?:hub|liveness|notify)\.py"),
    ("consumer (consumers.py, limits)", r"editor/consumers\.py|editor/live/limits\.py"),
    ("frame receive (Daphne, autobahn)", r"daphne/|autobahn/|txaio/"),
    ("Django (ORM, sessions)", r"django/"),
]
PLUMBING = [
    ("Channels and asgiref dispatch", r"channels/|asgiref/"),
    ("Twisted reactor", r"twisted/"),
    ("asyncio event loop", r"asyncio/"),
]
_COMPILED = [
    [(name, re.compile(rf"\((?:[^()]*/)?(?:{pattern})")) for name, pattern in steps]
    for steps in (STEPS, PLUMBING)
]
# A thread waiting (the event loop in epoll, a pool thread for work) is not busy, whatever
# py-spy's --nonblocking sampling makes of it.
_WAITING = re.compile(r"\(selectors\.py:|^_worker \(concurrent/futures/thread\.py:|\.wait \(threading\.py:")


def step_of(stack: list[str]) -> str:
    """The step a sample's stack (outermost frame first) is charged to."""
    for steps in _COMPILED:
        for frame in reversed(stack):
            for name, pattern in steps:
                if pattern.search(frame):
                    return name
    return "other (threads, interpreter)"


def read_raw(path: Path) -> collections.Counter:
    """py-spy's raw output: one collapsed stack per line, frames joined by ';', then a count."""
    samples: collections.Counter = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            if not _WAITING.search(frames[-1]):
                samples[step_of(frames)] += int(count)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="rooms", choices=sorted(compare.SCENARIOS))
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw stacks in this directory")
    arguments = parser.parse_args()
    scenario = replace(compare.SCENARIOS[arguments.scenario], duration=arguments.duration)
    out = arguments.keep or Path(tempfile.mkdtemp(prefix="bench-profile-"))
    out.mkdir(parents=True, exist_ok=True)

    spies: list[subprocess.Popen] = []
    usage: list[targets.Usage] = []
    with targets.editor(2) as target:

        def start() -> None:
            usage.append(targets.Usage(target))
            for number, process in enumerate(target.processes):
                spies.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).with_name("py-spy")),  # requirements-dev.txt
                            "record",
                            "--pid",
                            str(process.pid),
                            "--duration",
                            str(int(scenario.duration)),
                            "--rate",
                            "250",
                            "--nonblocking",
                            "--format",
                            "raw",
                            "--output",
                            str(out / f"worker{number}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

        result = loadgen.run_scenario(target.kind, target.urls, scenario, agents=2, on_start=start)
        cpu = sum(p["cpu_seconds"] for name, p in usage[0].finish().items() if name != "redis")
        for spy in spies:
            spy.wait(timeout=60)
    samples: collections.Counter = collections.Counter()
    for path in sorted(out.glob("worker*.txt")):
        samples += read_raw(path)
    total = sum(samples.values())
    if not total:
        raise SystemExit(f"py-spy recorded nothing (in {out}); it needs ptrace rights")
    edits = result.messages
    per_edit_us = 1e6 * cpu / edits if edits else float("nan")
    print(
        f"\n{scenario.name}: {result.connections} connections, {edits} edits in {scenario.duration:g} s, "
        f"p50 {result.percentile_ms(0.5):.2f} ms, p99 {result.percentile_ms(0.99):.2f} ms, "
        f"lost {result.lost}; "
        f"workers' CPU {cpu:.2f} s = {per_edit_us:.0f} µs per edit; {total} busy samples\n"
    )
    print("| step | share of busy samples | µs of worker CPU per edit |")
    print("|---|---|---|")
    for name, count in samples.most_common():
        print(f"| {name} | {100 * count / total:.1f} % | {per_edit_us * count / total:.0f} |")


if __name__ == "__main__":
    main()
