"""The browser's ot.js and the server's ot.py agree on every result, component for component."""

import json
import random
import shutil
import subprocess
from pathlib import Path

from editor import ot
from tests.randomized import random_operation, random_text

RUNNER = Path(__file__).parent.parent / "js" / "parity-runner.js"


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
