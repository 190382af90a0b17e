"""Run the comparison: this editor against the tutorial's Node stack, side by side.

    python -m bench.compare                 # everything (about 15 minutes)
    python -m bench.compare --quick         # shorter scenarios, for a first look
    python -m bench.compare --targets editor,socketio2 --scenarios human,crowd
    python -m bench.compare --targets editor --scenarios flood,flood-caret   # bench/flood.py
    python -m bench.compare --targets editor,socketio2 --scenarios growth   # how cost grows
    python -m bench.compare --targets editor,socketio2 --scenarios idle --idle-counts 2000,10000

Prints one table per scenario with every target and its ratio to the
reference (socket.io, 2 processes + Redis adapter), then the saturation and
idle-memory results, and writes everything as JSON (and the tables as
Markdown) under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import replace
from pathlib import Path

import psutil

from bench import flood, loadgen, targets
from bench.clients import CLIENTS

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE_NAME = "socket.io, 2 processes + Redis"  # the row the others are compared with

TARGETS = {
    "editor": lambda: targets.editor(2),
    "socketio2": lambda: targets.reference("socketio", 2),
    "socketio1": lambda: targets.reference("socketio", 1),
    "ws": lambda: targets.reference("ws", 1),
}

SCENARIOS = {
    "human": loadgen.Scenario(
        "human typing", rooms=1, clients_per_room=50, typists_per_room=5, interval=0.1, duration=20
    ),
    "crowd": loadgen.Scenario(
        "crowd", rooms=1, clients_per_room=200, typists_per_room=1, interval=0.05, duration=20
    ),
    "rooms": loadgen.Scenario(
        "many rooms", rooms=50, clients_per_room=4, typists_per_room=1, interval=0.1, duration=20
    ),
}
# How cost grows (``--scenarios growth``): many rooms and the crowd, larger, until they saturate.
GROWTH = {
    f"rooms{rooms}": replace(SCENARIOS["rooms"], name=f"many rooms x{rooms}", rooms=rooms)
    for rooms in (100, 200, 1000)
} | {"crowd1000": replace(SCENARIOS["crowd"], name="crowd x1000", clients_per_room=1000)}
SCENARIOS |= GROWTH
GROUPS = {"growth": ["rooms", "rooms100", "rooms200", "rooms1000", "crowd", "crowd1000"]}
SATURATION = loadgen.Scenario(
    "saturation", rooms=1, clients_per_room=50, typists_per_room=5, interval=0.1, duration=5
)
SATURATION_P99_MS = 100
IDLE_COUNTS = (200, 2000)


def measure(target: targets.Target, scenario: loadgen.Scenario, agents: int) -> dict:
    """One scenario; the servers' CPU is counted from when the typing starts (not while connecting)."""
    usage: list[targets.Usage] = []
    result = loadgen.run_scenario(
        target.kind,
        target.urls,
        scenario,
        agents=agents,
        on_start=lambda: usage.append(targets.Usage(target)),
    )
    processes = usage[0].finish()
    server_cpu = sum(p["cpu_seconds"] for name, p in processes.items() if name != "redis")
    row = {
        "scenario": scenario.name,
        "target": target.name,
        "connections": result.connections,
        "keystrokes": result.keystrokes,
        "messages": result.messages,
        "expected": result.expected,
        "received": result.received,
        "frames": result.frames,
        "lost": result.lost,
        "errors": result.errors,
        "p50_ms": result.percentile_ms(0.5),
        "p90_ms": result.percentile_ms(0.9),
        "p99_ms": result.percentile_ms(0.99),
        "p999_ms": result.percentile_ms(0.999),
        "max_ms": result.latency.max_us / 1000,
        "deliveries_per_s": result.deliveries_per_second,
        "frames_per_s": result.frames_per_second,
        "server_cpu_us_per_delivery": 1e6 * server_cpu / result.received if result.received else float("nan"),
        "processes": processes,
    }
    if target.kind == "editor":
        row["server_errors"] = targets.worker_log_errors(target)[:10]
    return row


def interleaved_rounds(
    variants: dict[str, Callable[[], dict]], rounds: int, *, label: str, extra: tuple[str, str]
) -> dict[str, list[dict]]:
    """Run each variant (a ``measure`` row) once a round, in turn; print a table row for each
    run, with the row's ``extra[1]`` under the heading ``extra[0]``, then the medians."""
    rows: dict[str, list[dict]] = {variant: [] for variant in variants}
    print(f"| round | {label} | p50 ms | p99 ms | lost | server CPU µs/delivery | {extra[0]} |")
    print("|---|---|---|---|---|---|---|")
    for round_number in range(1, rounds + 1):
        for variant, run in variants.items():
            row = run()
            rows[variant].append(row)
            print(
                f"| {round_number} | {variant} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['lost']} "
                f"| {row['server_cpu_us_per_delivery']:.0f} | {row[extra[1]]} |",
                flush=True,
            )
    for variant, measured in rows.items():
        median = {
            key: statistics.median(r[key] for r in measured)
            for key in ("p50_ms", "p99_ms", "server_cpu_us_per_delivery")
        }
        print(
            f"| median | {variant} | {median['p50_ms']:.1f} | {median['p99_ms']:.1f} | "
            f"| {median['server_cpu_us_per_delivery']:.0f} | |"
        )
    return rows


def saturation(target: targets.Target, agents: int, quick: bool) -> dict:
    """Raise the typing rate until p99 passes 100 ms or a delivery is lost; report the last good step."""
    steps = []
    best = None
    for rate in (10, 20, 40, 80, 160, 320, 640, 1280):
        scenario = replace(SATURATION, interval=1 / rate, duration=3 if quick else SATURATION.duration)
        row = measure(target, scenario, agents)
        row["rate_per_typist"] = rate
        steps.append(row)
        print(
            f"    {rate:5d} keystrokes/s per typist: {row['deliveries_per_s']:9.0f} deliveries/s "
            f"in {row['frames_per_s']:7.0f} frames/s, p99 {row['p99_ms']:8.1f} ms, lost {row['lost']}",
            flush=True,
        )
        if row["p99_ms"] > SATURATION_P99_MS or row["lost"] > 0:
            break
        best = row
    return {"target": target.name, "best": best, "steps": steps}


async def _hold_idle(kind: str, url: str, count: int) -> None:
    """Connect ``count`` idle clients, 50 handshakes at a time; report on stdout how many
    the server took (a refusal frame is a failure, not a held connection) and how long
    that took; hold them until stdin closes."""
    clients = [CLIENTS[kind](url, f"idle-{n % 100}", f"idle{n}", lambda *_: None) for n in range(count)]
    limit = asyncio.Semaphore(50)
    errors: list[str] = []
    held = []

    async def connect(client):
        async with limit:
            try:
                await client.connect()
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
            else:
                held.append(client)

    began = time.monotonic()
    await asyncio.gather(*(connect(client) for client in clients))
    report = {
        "connected": len(held),
        "failed": len(errors),
        "errors": errors[:5],
        "connect_seconds": time.monotonic() - began,
    }
    readers = [asyncio.create_task(client.run()) for client in held]
    print(json.dumps(report), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for reader in readers:
        reader.cancel()


def hold_idle(kind: str, url: str, count: int) -> tuple[subprocess.Popen, dict]:
    """``count`` idle clients held by a subprocess (``_hold_idle``) until its stdin is closed,
    and its report, once they are connected and the server has settled."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import asyncio, bench.compare as c; asyncio.run(c._hold_idle({kind!r}, {url!r}, {count}))",
        ],
        cwd=targets.ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    report = json.loads(holder.stdout.readline())
    time.sleep(2)  # let the server settle after the burst of connections
    return holder, report


def release(holder: subprocess.Popen) -> None:
    """Close a ``hold_idle`` holder's connections and wait for it to exit."""
    holder.stdin.close()
    holder.wait(timeout=120)


def idle_memory(
    start: Callable[[], ContextManager[targets.Target]], counts: tuple[int, ...] = IDLE_COUNTS
) -> dict:
    """RSS of a fresh server process before and while it holds ``count`` idle connections, for
    each count on a process of its own (memory freed by one count's clients would be reused by
    the next's and hide their cost)."""
    rows: dict = {"counts": list(counts)}
    for count in counts:
        with start() as target:
            process = target.processes[0]
            base, cpu_before = process.memory_info().rss, targets.cpu_seconds(process)
            holder, report = hold_idle(target.kind, target.urls[0], count)
            rss, cpu = process.memory_info().rss, targets.cpu_seconds(process) - cpu_before
            release(holder)
            held = report["connected"]
            rows["target"] = target.name
            rows[f"{count}_base_mb"] = base / 2**20
            rows[f"{count}_connections"] = held
            rows[f"{count}_failed"] = report["failed"]
            rows[f"{count}_errors"] = report["errors"]
            rows[f"{count}_connect_seconds"] = report["connect_seconds"]
            rows[f"{count}_mb"] = rss / 2**20
            rows[f"{count}_kb_per_connection"] = (rss - base) / 1024 / held if held else float("nan")
            rows[f"{count}_cpu_ms_per_connection"] = 1000 * cpu / held if held else float("nan")
    return rows


def idle_table(rows: list[dict]) -> str:
    """One line per target: per count the RSS before and held, KB per held connection, and the
    server's CPU per connection while they connected."""
    counts = rows[0]["counts"]
    lines = [
        "| target | "
        + " | ".join(
            f"with {n:,}: RSS before, held (held, failed, connect s) | KB/conn | CPU ms/conn" for n in counts
        )
        + " |",
        "|---|" + "---|---|---|" * len(counts),
    ]
    for idle in rows:
        cells = [
            f"{idle[f'{n}_base_mb']:.0f} MB, {idle[f'{n}_mb']:.0f} MB ({idle[f'{n}_connections']}, "
            f"{idle[f'{n}_failed']}, {idle[f'{n}_connect_seconds']:.1f}) "
            f"| {idle[f'{n}_kb_per_connection']:.0f} | {idle[f'{n}_cpu_ms_per_connection']:.2f}"
            for n in counts
        ]
        lines.append(f"| {idle['target']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _ratio(value: float, reference: float) -> str:
    if not reference or reference != reference or value != value:
        return ""
    return f"{value / reference:.2f}x"


def scenario_table(name: str, rows: list[dict]) -> str:
    reference = next((row for row in rows if row["target"] == REFERENCE_NAME), None)
    lines = [
        f"#### {name}",
        "",
        "| target | conns | msgs sent | deliveries (lost) | frames | p50 ms | p90 ms | p99 ms "
        "| p99.9 ms | max ms | deliveries/s | server CPU µs/delivery | p99 vs ref |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['target']} | {row['connections']} | {row['messages']} "
            f"| {row['received']} ({row['lost']}) | {row['frames']} "
            f"| {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {row['p999_ms']:.1f} "
            f"| {row['max_ms']:.1f} "
            f"| {row['deliveries_per_s']:.0f} | {row['server_cpu_us_per_delivery']:.0f} "
            f"| {_ratio(row['p99_ms'], reference['p99_ms']) if reference else ''} |"
        )
    lines.append("")
    lines.append(
        "CPU seconds and RSS per process: "
        + "; ".join(
            f"{row['target']}: "
            + ", ".join(
                f"{proc} {usage['cpu_seconds']:.1f} s / {usage['rss_mb']:.0f} MB"
                for proc, usage in row["processes"].items()
            )
            for row in rows
        )
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--scenarios", default="human,crowd,rooms,saturation,idle")
    parser.add_argument("--quick", action="store_true", help="5 s scenarios and short saturation steps")
    parser.add_argument("--agents", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--idle-counts",
        default=",".join(map(str, IDLE_COUNTS)),
        help="idle connections to hold, one count after the other (e.g. 200,2000,10000)",
    )
    args = parser.parse_args()
    chosen_targets = args.targets.split(",")
    chosen = [name for group in args.scenarios.split(",") for name in GROUPS.get(group, [group])]
    idle_counts = tuple(int(n) for n in args.idle_counts.split(","))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "command": " ".join(["python -m bench.compare", *sys.argv[1:]]),
        "scenarios": {},
        "saturation": [],
        "idle": [],
    }
    rows_by_scenario: dict[str, list[dict]] = {}
    for key in chosen_targets:
        if not any(name in chosen for name in (*SCENARIOS, "saturation", "idle")):
            break  # only flood scenarios: they start their own editor workers (below)
        with TARGETS[key]() as target:
            print(f"== {target.name}", flush=True)
            for name in SCENARIOS:
                if name not in chosen:
                    continue
                scenario = SCENARIOS[name]
                if args.quick:
                    scenario = replace(scenario, duration=5)
                row = measure(target, scenario, args.agents)
                rows_by_scenario.setdefault(scenario.name, []).append(row)
                print(
                    f"  {scenario.name:14s} p50 {row['p50_ms']:7.1f} p99 {row['p99_ms']:7.1f} "
                    f"p99.9 {row['p999_ms']:7.1f} ms, "
                    f"{row['deliveries_per_s']:8.0f}/s, lost {row['lost']}, "
                    f"{row['server_cpu_us_per_delivery']:.0f} µs CPU/delivery",
                    flush=True,
                )
            if "saturation" in chosen:
                print("  saturation", flush=True)
                report["saturation"].append(saturation(target, args.agents, args.quick))
        if "idle" in chosen:
            # On fresh processes: memory freed after a load would hide the cost of connections.
            idle = idle_memory(TARGETS[key], idle_counts)
            report["idle"].append(idle)
            print(
                "  idle: "
                + ", ".join(
                    f"{n}: {idle[f'{n}_connections']} held, {idle[f'{n}_kb_per_connection']:.0f} KB/conn"
                    for n in idle_counts
                ),
                flush=True,
            )
    report["scenarios"] = rows_by_scenario
    flood_names = [name for name in chosen if name in flood.SCENARIOS]
    if flood_names and "editor" in chosen_targets:
        report["flood"] = flood.run_scenarios(flood_names, flood.Plan(scenario=flood_names[0]))
    markdown = [f"Measured {report['date']} on {report['machine']} with `{report['command']}`.", ""]
    for name, rows in rows_by_scenario.items():
        markdown.append(scenario_table(name, rows))
    if report["saturation"]:
        markdown += [
            "#### saturation (1 room x 50, 5 typists, rate raised until p99 > 100 ms or any loss)",
            "",
        ]
        markdown += [
            "| target | best deliveries/s | frames/s there | at keystrokes/s per typist | p99 ms there |",
            "|---|---|---|---|---|",
        ]
        for entry in report["saturation"]:
            best = entry["best"]
            if best:
                markdown.append(
                    f"| {entry['target']} | {best['deliveries_per_s']:.0f} | {best['frames_per_s']:.0f} "
                    f"| {best['rate_per_typist']} "
                    f"| {best['p99_ms']:.1f} |"
                )
            else:
                markdown.append(f"| {entry['target']} | below the first step | | | |")
        markdown.append("")
    if report["idle"]:
        markdown += ["#### idle memory (one server process)", "", idle_table(report["idle"])]
    if report.get("flood"):
        markdown += ["", flood.tables(report["flood"])]
    text = "\n".join(markdown) + "\n"
    print()
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = report["date"].replace(":", "")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / f"{stamp}.md").write_text(text)
    (RESULTS / "latest.md").write_text(text)
    print(f"written: bench/results/{stamp}.json and .md", flush=True)


if __name__ == "__main__":
    main()
