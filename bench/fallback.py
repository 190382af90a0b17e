"""Human typing over the fallback transport next to the WebSocket: what does a blocked
WebSocket cost a typist, the server, and an idle tab?

    python -m bench.fallback                  # 3 rounds of each, 20 s of typing
    python -m bench.fallback --rounds 2 --duration 10

Each round starts two fresh workers; the "fallback" rows are the same tabs
(bench/clients.py ``FallbackEditorClient``: Server-Sent Events down, POSTs up,
sessions opened on one worker and read through the same one, as round-robin
would half the time) instead of WebSockets. Then one worker's memory with
200 idle tabs of each kind.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
from dataclasses import replace

from bench import compare, targets

IDLE = (200,)


def one_round(kind: str, duration: float) -> dict:
    scenario = replace(compare.SCENARIOS["human"], duration=duration)
    with targets.editor(2) as target:
        return compare.measure(dataclasses.replace(target, kind=kind), scenario, agents=2)


def idle(kind: str) -> dict:
    @contextlib.contextmanager
    def start():
        with targets.editor(1) as target:
            yield dataclasses.replace(target, kind=kind)

    return compare.idle_memory(start, counts=IDLE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20)
    arguments = parser.parse_args()
    kinds = {"websocket": "editor", "fallback": "editor-fallback"}
    variants = {
        variant: functools.partial(one_round, kind, arguments.duration) for variant, kind in kinds.items()
    }
    compare.interleaved_rounds(variants, arguments.rounds, label="transport", extra=("errors", "errors"))
    print()
    memory = []
    for variant, kind in kinds.items():
        memory.append({**idle(kind), "target": variant})
    print(compare.idle_table(memory), flush=True)


if __name__ == "__main__":
    main()
