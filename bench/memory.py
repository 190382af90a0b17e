"""What one idle connection holds in a worker, by the code that allocated it.

    python -m bench.memory                  # 1,000 idle connections
    python -m bench.memory --count 2000

One editor worker traces its Python allocations from its first import
(tracemalloc, bench/memhook/sitecustomize.py). It first holds ``--warm``
connections (what the first ones load, modules and caches, is then not
counted); a snapshot then and one while it also holds ``--count`` more
(compare.py's holder: 100 documents, 50 handshakes at a time) are compared by file, grouped by
package (and module, for the layers a connection goes through), and
divided by the connections held. The traced bytes are Python's objects
only; tracing itself inflates RSS, so the RSS per connection is measured
by ``python -m bench.compare --scenarios idle`` without it.
"""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from bench import compare, targets

HOOK = Path(__file__).resolve().parent / "memhook"
# Packages shown module by module: the layers one connection passes through.
BY_MODULE = ("daphne", "autobahn", "twisted", "channels", "channels_redis", "asyncio", "editor", "django")


def layer_of(filename: str) -> str:
    """``daphne/ws_protocol.py``, ``twisted/web``: a package of BY_MODULE and its next part;
    any other installed package by its name; else the file's name."""
    parts = Path(filename).parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in BY_MODULE:
            return "/".join(parts[index : index + 2])
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    return Path(filename).name


def snapshot(pid: int, path: str, number: int) -> tracemalloc.Snapshot:
    os.kill(pid, signal.SIGUSR1)
    target = Path(f"{path}.{number}")
    deadline = time.monotonic() + 120
    while not target.exists():  # written whole (renamed into place) by the worker's handler
        if time.monotonic() > deadline:
            raise TimeoutError(f"no snapshot from worker {pid}")
        time.sleep(0.2)
    return pickle.loads(target.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--warm", type=int, default=200, help="connections held before the first snapshot")
    arguments = parser.parse_args()
    dumps = tempfile.mkdtemp(prefix="bench-memory-")
    path = f"{dumps}/snapshot"
    with targets.editor(1, BENCH_TRACEMALLOC=path, PYTHONPATH=str(HOOK)) as target:
        pid = target.processes[0].pid
        warm, _ = compare.hold_idle("editor", target.urls[0], arguments.warm)  # loaded once
        before = snapshot(pid, path, 0)
        rss_before = target.processes[0].memory_info().rss
        holder, report = compare.hold_idle("editor", target.urls[0], arguments.count)
        held = report["connected"]
        after = snapshot(pid, path, 1)
        rss_after = target.processes[0].memory_info().rss
        for process in (holder, warm):
            compare.release(process)
    by_layer: Counter[str] = Counter()
    for difference in after.compare_to(before, "filename"):
        by_layer[layer_of(difference.traceback[0].filename)] += difference.size_diff
    total = sum(by_layer.values())
    print(
        f"{held} idle connections held ({report['failed']} failed, "
        f"{report['connect_seconds']:.1f} s to connect, under tracing); "
        f"traced Python allocations {total / 1024 / held:.1f} KB per connection, "
        f"RSS {(rss_after - rss_before) / 1024 / held:.0f} KB per connection (inflated by tracing)"
    )
    print()
    print("| allocated in | bytes per connection | share |")
    print("|---|---|---|")
    for layer, size in by_layer.most_common(arguments.rows):
        print(f"| {layer} | {size / held:,.0f} | {100 * size / total:.1f} % |")
    rest = total - sum(size for _, size in by_layer.most_common(arguments.rows))
    print(f"| everything else | {rest / held:,.0f} | {100 * rest / total:.1f} % |")


if __name__ == "__main__":
    main()
