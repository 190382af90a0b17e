"""docs/architecture.md's path of one keystroke names functions and methods that exist."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# `path/to/module.py:Name` or `path/to/module.js:Class.method`
NAME = re.compile(r"`([\w/]+\.(?:py|js)):([\w.]+)`")


def keystroke_path() -> list[tuple[str, str]]:
    """The first name of each numbered line of the section: its hop."""
    section = DOC.read_text().split("## The path of one keystroke", 1)[1].split("\n## ", 1)[0]
    hops = [line for line in section.splitlines() if re.match(r"\d+\. ", line)]
    return [NAME.search(line).groups() for line in hops]


def python_name_exists(path: str, qualified: str) -> bool:
    target = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    for part in qualified.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


def javascript_name_exists(path: str, qualified: str) -> bool:
    """A class and its method, a function, or a hook the page passes (``onEdit: (op) =>``)."""
    source = (ROOT / path).read_text()
    *owner, name = qualified.split(".")
    if owner and not re.search(rf"\bclass {owner[0]}\b", source):
        return False
    definition = (
        rf"(?m)^\s*(?:export\s+)?(?:async\s+)?(?:function\s+)?{re.escape(name)}\s*(?:\(|:\s*(?:\(|\w+\s*=>))"
    )
    return re.search(definition, source) is not None


def test_the_path_goes_from_a_textarea_through_both_workers_to_another_textarea():
    hops = keystroke_path()
    assert len(hops) >= 20
    assert hops[0] == ("editor/static/editor/textarea.js", "TextareaAdapter.readInput")
    assert hops[-1] == ("editor/static/editor/textarea.js", "TextareaAdapter.applyRemote")
    layers = {path.split("/")[1] if path.count("/") > 1 else "face" for path, _ in hops}
    assert {"static", "live", "store", "wire", "ot", "face"} <= layers


@pytest.mark.parametrize(("path", "name"), keystroke_path(), ids=lambda value: value)
def test_each_hop_names_something_that_exists(path, name):
    exists = python_name_exists if path.endswith(".py") else javascript_name_exists
    assert exists(path, name), f"{path}:{name} is not defined"


def test_a_name_that_does_not_exist_is_caught():
    assert not python_name_exists("editor/live/hub.py", "Hub.no_such_method")
    assert not javascript_name_exists("editor/static/editor/client.js", "EditorClient.noSuchMethod")
    assert javascript_name_exists("editor/static/editor/main.js", "onEdit")
