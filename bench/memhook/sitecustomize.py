"""Loaded by a worker started with this folder on PYTHONPATH (bench/memory.py): traces its
allocations from the first import, and writes a tracemalloc snapshot to
``$BENCH_TRACEMALLOC.N`` at each SIGUSR1 (N counting from 0)."""

import itertools
import os
import pickle
import signal
import tracemalloc

_path = os.environ.get("BENCH_TRACEMALLOC")
if _path:
    tracemalloc.start(1)
    _numbers = itertools.count()

    def _dump(signum, frame) -> None:
        target = f"{_path}.{next(_numbers)}"
        snapshot = tracemalloc.take_snapshot()
        with open(target + ".part", "wb") as out:
            pickle.dump(snapshot, out)
        os.replace(target + ".part", target)  # whole, or not there yet

    signal.signal(signal.SIGUSR1, _dump)
