"""The editor's folders are layers: imports point one way, face -> live -> store/wire -> ot.

Read from the source (every import statement, at the top of a module or
inside a function), as editor/*/__init__.py says each layer may import.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest

from editor.models import Document, Operation
from editor.store import sql

EDITOR = Path(__file__).resolve().parent.parent / "editor"

# What each layer's modules may import from the editor itself.
MAY_IMPORT = {
    "ot": {"ot"},
    "wire": {"wire", "ot"},
    "store": {"store", "ot"},
    "live": {"live", "store", "wire", "ot"},
    "face": {"face", "live", "store", "wire", "ot"},
}
# Libraries a layer must not import: the pure layers none with I/O or a framework.
FRAMEWORKS = {"django", "channels", "asgiref", "daphne", "twisted", "autobahn", "psycopg", "redis", "asyncio"}
MUST_NOT_IMPORT = {
    "ot": FRAMEWORKS,
    "wire": FRAMEWORKS,
    "store": {"channels", "daphne", "twisted", "autobahn", "redis"},
    "live": set(),
    "face": set(),
}
# Only the socket writer knows Twisted and autobahn.
TWISTED_MODULES = {"editor.live.sockets"}


def module_name(path: Path) -> str:
    parts = path.relative_to(EDITOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in {"ot", "wire", "store", "live"} else "face"


def imported_modules(source: str, *, package: str) -> list[str]:
    """Every module the import statements of a module of ``package`` name, relative ones resolved."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from editor import ot`` imports the module editor.ot.
            names += [f"{base}.{alias.name}" for alias in node.names] if base == "editor" else [base]
    return names


SOURCES = sorted(path for path in EDITOR.rglob("*.py") if "migrations" not in path.parts)


def violations(module: str, source: str, *, package: str) -> list[str]:
    layer = layer_of(module)
    found = []
    for imported in imported_modules(source, package=package):
        top = imported.split(".")[0]
        if top == "editor" and layer_of(imported) not in MAY_IMPORT[layer]:
            found.append(f"{module} ({layer}) imports {imported} ({layer_of(imported)})")
        elif top in MUST_NOT_IMPORT[layer]:
            found.append(f"{module} ({layer}) imports {imported}")
        elif top in {"twisted", "autobahn"} and module not in TWISTED_MODULES:
            found.append(f"{module} imports {imported}: only {TWISTED_MODULES} may")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_a_module_imports_nothing_from_a_layer_above_its_own(path):
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    assert violations(module, path.read_text(), package=package) == []


def test_an_import_upward_or_of_a_framework_into_a_pure_layer_is_a_violation():
    assert violations("editor.store.sql", "from ..live import hub", package="editor.store")
    assert violations("editor.ot.text", "import asyncio", package="editor.ot")
    assert violations("editor.wire.protocol", "from django.conf import settings", package="editor.wire")
    assert violations("editor.live.hub", "from twisted.internet import tcp", package="editor.live")
    assert not violations("editor.live.hub", "from editor.store import commit", package="editor.live")


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_every_module_imports(path):
    importlib.import_module(module_name(path))


def test_each_layer_says_what_lives_there_and_what_it_may_import():
    for layer in ("ot", "wire", "store", "live"):
        docstring = ast.get_docstring(ast.parse((EDITOR / layer / "__init__.py").read_text()))
        assert docstring, f"editor/{layer}/__init__.py"
        assert "May import" in docstring, f"editor/{layer}/__init__.py"


def test_the_checks_see_relative_and_late_imports():
    """The reading of imports itself: a relative import upward, one inside a function."""
    source = "from ..live import hub\nfrom . import sql\n\ndef later():\n    from editor import consumers\n"
    imported = imported_modules(source, package="editor.store")
    assert imported == ["editor.live", "editor.store", "editor.consumers"]
    assert [layer_of(module) for module in imported] == ["live", "store", "face"]


def test_the_store_names_the_tables_the_models_have():
    assert (Document._meta.db_table, Operation._meta.db_table) == (sql.DOCUMENTS, sql.OPERATIONS)


SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b")


def sql_in(source: str) -> list[str]:
    """The string literals of a module that look like SQL (docstrings are prose, not statements)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and SQL.search(node.value)
    ]


def test_every_sql_statement_is_written_in_store_sql():
    """The documents and operations tables are reached through store/sql.py alone."""
    written = sorted(module_name(path) for path in SOURCES if sql_in(path.read_text()))
    assert written == ["editor.store.sql"]


def test_sql_in_a_string_is_found_and_in_a_docstring_is_not():
    assert sql_in('"""SELECT the rows."""\nQUERY = "SELECT id FROM t"\n') == ["SELECT id FROM t"]
    assert sql_in('def f():\n    """UPDATE nothing."""\n') == []
