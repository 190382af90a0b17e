"""Where a worker's time goes while connections arrive: py-spy on one editor worker while
compare.py's holder connects ``count`` idle clients (100 documents), as inclusive shares.

    python -m bench.connect_profile                  # 2,000 connections
    python -m bench.connect_profile --count 2000 --top 40

py-spy samples the worker's threads at 250 Hz from the first handshake
until the last client is connected, leaving out the ones it judges idle;
it counts a thread waiting for PostgreSQL (psycopg's ``Connection.wait``)
or on the thread pool's queue as busy, so the shares are of time, not CPU
(bench.floor's CPU column says how much CPU). Each line is a function and
the share of the busy samples with it on the stack (once per sample): the
editor's own functions, then every file's, then the innermost frames.
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from bench import compare, targets

_FRAME = re.compile(r"^(?P<function>.+) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def shares(collapsed: str) -> tuple[int, collections.Counter, collections.Counter, collections.Counter]:
    """From py-spy's raw (collapsed) output: the samples, per function and per file the
    samples with it on the stack (each counted once per sample), and per innermost frame."""
    functions: collections.Counter = collections.Counter()
    files: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        seen_functions, seen_files, innermost = set(), set(), None
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match is None or match["file"].startswith("0x"):  # not a frame: the thread's id
                continue
            path = _short(match["file"])
            seen_functions.add(f"{match['function']} ({path})")
            seen_files.add(path)
            innermost = f"{match['function']} ({path}:{match['line']})"
        if innermost is not None:
            leaves[innermost] += samples
        for name in seen_functions:
            functions[name] += samples
        for name in seen_files:
            files[name] += samples
    return total, functions, files, leaves


def _short(path: str) -> str:
    """A file's path from its package (site-packages/, the repository) on."""
    for marker in ("site-packages/", "python3.11/", str(targets.ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    arguments = parser.parse_args()
    with targets.editor(1) as target, tempfile.TemporaryDirectory(prefix="bench-spy-") as directory:
        output = Path(directory) / "stacks.txt"
        spy = subprocess.Popen(
            [
                str(targets.ROOT / ".venv/bin/py-spy"),
                *("record", "--pid", str(target.processes[0].pid), "--threads", "--rate", "250"),
                *("--format", "raw", "--output", str(output)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        holder, report = compare.hold_idle(target.kind, target.urls[0], arguments.count)
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        spy.wait(timeout=60)
        compare.release(holder)
        total, functions, files, leaves = shares(output.read_text())
    print(
        f"{report['connected']} connected ({report['failed']} failed) in {report['connect_seconds']:.1f} s; "
        f"{total} busy samples"
    )
    editor_own = [(name, n) for name, n in functions.most_common() if "(editor/" in name]
    for title, rows in (
        ("the editor's functions", editor_own[: arguments.top]),
        ("files", files.most_common(arguments.top)),
        ("innermost frames", leaves.most_common(arguments.top)),
    ):
        print(f"\n| {title} | share of busy samples |\n|---|---|")
        for name, n in rows:
            print(f"| {name} | {100 * n / total:.1f} % |")


if __name__ == "__main__":
    main()
