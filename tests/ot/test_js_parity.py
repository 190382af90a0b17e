"""The browser's ot.js and the server's ot.py agree on every result, component for component."""

import json
import random
import shutil
import subprocess
from pathlib import Path

from editor import ot

RUNNER = Path(__file__).parent.parent / "js" / "parity-runner.js"
# 😀, 😁 and 👍 share their high surrogate: equal as UTF-16 units, different characters.
PIECES = ["a", "b", " ", "\n", "\r\n", "\r", "😀", "😁", "👍🏽", "𝄞", "é", "e\u0301", "漢", "\u200d"]


def random_text(rng: random.Random, pieces: int = 10) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, pieces)))


def random_operation(rng: random.Random, text: str) -> ot.Operation:
    components: list[ot.Component] = []
    remaining = len(text)
    while remaining > 0 or rng.random() < 0.3:
        kind = rng.random()
        if kind < 0.3:
            components.append(random_text(rng, 3) or "x")
        elif remaining:
            count = rng.randint(1, remaining)
            components.append(count if kind < 0.7 else -count)
            remaining -= count
    return ot.normalize(components)


def test_javascript_and_python_compute_the_same_operations():
    rng = random.Random(42)
    cases = []
    for _ in range(500):
        text = random_text(rng)
        a, b = random_operation(rng, text), random_operation(rng, text)
        c = random_operation(rng, ot.apply(text, a))
        cases.append(
            {
                "text": text,
                "a": a,
                "b": b,
                "c": c,
                "other": random_text(rng),
                "index": rng.randint(0, len(text)),
            }
        )
    node = shutil.which("node")
    assert node, "Node.js is required for the browser code's tests"
    completed = subprocess.run(
        [node, str(RUNNER)], input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=60
    )
    results = json.loads(completed.stdout)
    for case, result in zip(cases, results, strict=True):
        assert result["applied"] == ot.apply(case["text"], case["a"]), case
        assert tuple(result["transformed"]) == ot.transform(case["a"], case["b"]), case
        assert result["composed"] == ot.compose(case["a"], case["c"]), case
        assert result["index"] == ot.transform_index(case["index"], case["a"]), case
        assert result["ownIndex"] == ot.transform_index(case["index"], case["a"], own=True), case
        assert result["diff"] == ot.from_diff(case["text"], case["other"]), case
        assert result["inverted"] == ot.invert(case["a"], case["text"]), case
