"""Compare two revisions of the editor, interleaved, several rounds: is a change faster?

    python -m bench.ab HEAD~1 HEAD                       # human typing, 4 rounds of 10 s
    python -m bench.ab main my-branch --scenarios human,crowd,rooms --rounds 6

On this machine one build's human-typing p99 ranges over 6-11 ms from one
10 s run to the next, more than most changes move it. So each revision is
run in turn (A, B, A, B, ...) and the medians are compared, with every
round printed. Each revision is exported with `git archive` to a temporary
directory and runs from there (its editor and its bench code), with this
checkout's Python environment.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside the exported tree; uses only what every revision's bench has.
ROUND = """
import json, sys
from dataclasses import replace
from bench import compare, loadgen, targets
names, duration = sys.argv[1].split(","), float(sys.argv[2])
rows = {}
with targets.editor(2) as target:
    for name in names:
        row = compare.measure(target, replace(compare.SCENARIOS[name], duration=duration), agents=2)
        rows[name] = [row["p50_ms"], row["p99_ms"], row["lost"], row["server_cpu_us_per_delivery"]]
print("ROUND " + json.dumps(rows), flush=True)
"""


def export(revision: str, into: Path) -> Path:
    tree = into / revision.replace("/", "_")
    tree.mkdir()
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_round(tree: Path, scenarios: str, duration: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", ROUND, scenarios, str(duration)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("ROUND "))
    return json.loads(line.removeprefix("ROUND "))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--scenarios", default="human")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    try:
        trees = {revision: export(revision, workdir) for revision in (args.before, args.after)}
        results: dict[str, list[dict]] = {revision: [] for revision in trees}
        for round_number in range(1, args.rounds + 1):
            for revision, tree in trees.items():
                rows = run_round(tree, args.scenarios, args.duration)
                results[revision].append(rows)
                print(
                    f"round {round_number} {revision:>12}: "
                    + ", ".join(
                        f"{name} p50 {r[0]:.2f} p99 {r[1]:.2f} ms lost {r[2]} cpu {r[3]:.0f} µs"
                        for name, r in rows.items()
                    ),
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        "| scenario | revision | median p50 ms | median p99 ms | p99 of each round | lost "
        "| median server CPU µs per delivery |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.scenarios.split(","):
        for revision, rounds in results.items():
            p50s = [rows[name][0] for rows in rounds]
            p99s = [rows[name][1] for rows in rounds]
            lost = sum(rows[name][2] for rows in rounds)
            cpu = statistics.median(rows[name][3] for rows in rounds)
            print(
                f"| {name} | {revision} | {statistics.median(p50s):.2f} | {statistics.median(p99s):.2f} "
                f"| {' / '.join(f'{p:.1f}' for p in p99s)} | {lost} | {cpu:.0f} |"
            )


if __name__ == "__main__":
    main()
