"""The page's undo (editor/static/editor/undo.js, the shipped module) under hypothesis: undo
then redo is the identity, and undoing one's own edit after collaborators' edits removes
exactly that edit's characters. Node runs the module (tests/js/undo-runner.js); hypothesis
makes the scenarios and shrinks a failing one."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor import ot
from tests.strategies import operations, texts

RUNNER = Path(__file__).parent.parent / "js" / "undo-runner.js"
MARK = "Ⓜ"  # our own characters; collaborators never type it


@pytest.fixture(scope="module")
def undo_js():
    node = shutil.which("node")
    assert node, "Node.js is required for the browser code's tests"
    process = subprocess.Popen(
        [node, str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )

    def run(case: dict) -> dict:
        process.stdin.write(json.dumps(case) + "\n")
        process.stdin.flush()
        answer = json.loads(process.stdout.readline())
        assert "error" not in answer, answer["error"]
        return answer

    yield run
    process.stdin.close()
    assert process.wait(timeout=10) == 0


@st.composite
def sessions(draw):
    """A page's steps: its own typing, collaborators' edits and pauses, in any order."""
    text = start = draw(texts)
    steps = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["type", "remote", "wait"]))
        if kind == "wait":
            steps.append(["wait", draw(st.sampled_from([0, 300, 1000, 1500]))])
            continue
        op = draw(operations(text))
        steps.append([kind, op])
        text = ot.apply(text, op)
    # Last, something of ours to undo (it may join the group before it).
    position = draw(st.integers(0, len(text)))
    steps.append(["type", ot.normalize([position, draw(texts.filter(bool)), len(text) - position])])
    return {"text": start, "groupMs": draw(st.sampled_from([0, 1000])), "steps": steps}


def without_mark(op: ot.Operation) -> bool:
    return not any(isinstance(component, str) and MARK in component for component in op)


@st.composite
def own_edit_among_others(draw):
    """Collaborators' edits, one insert of ours (of MARK), then more of theirs (which may
    delete some of ours, never type MARK)."""
    text = start = draw(texts.filter(lambda t: MARK not in t))
    steps = []

    def others(count):
        nonlocal text
        for _ in range(count):
            op = draw(operations(text).filter(without_mark))
            steps.append(["remote", op])
            text = ot.apply(text, op)

    others(draw(st.integers(0, 5)))
    position = draw(st.integers(0, len(text)))
    ours = ot.normalize([position, MARK * draw(st.integers(1, 4)), len(text) - position])
    steps.append(["type", ours])
    text = ot.apply(text, ours)
    others(draw(st.integers(0, 5)))
    return {"text": start, "groupMs": 0, "steps": steps}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=sessions())
def test_undo_then_redo_is_the_identity(undo_js, case):
    answer = undo_js({**case, "then": "undo-redo"})
    assert answer["undid"]
    assert answer["undone"] != answer["before"]
    assert answer["after"] == answer["before"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=own_edit_among_others())
def test_undoing_ones_edit_after_collaborators_edits_removes_exactly_its_characters(undo_js, case):
    answer = undo_js({**case, "then": "undo"})
    assert answer["undid"] == (MARK in answer["before"]), "nothing to undo once others deleted all of it"
    assert answer["undone"] == answer["before"].replace(MARK, "")
