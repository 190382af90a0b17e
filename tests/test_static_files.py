"""Static files: hashed names cached for good with DEBUG off, the apps' own files with DEBUG on.

A DEBUG-off worker serves what collectstatic wrote (realtime_site/static_storage.py): names with
a hash of their content, which WhiteNoise caches for ten years, so that after a deploy a browser
loads new names rather than running old JavaScript against new workers.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests import servers

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

EDITOR_STATIC = servers.ROOT / "editor" / "static"
HASHED = re.compile(r"\.[0-9a-f]{12}(?=\.(?:js|css)$)")
# Every module specifier: `from "…"` (import and export), `import "…"`, `import("…")`. Wider
# than Django's patterns on purpose (no semicolon needed), so that what they miss shows here.
# An import's specifier: `... from "x"` (after white space or a brace, not `"history-from"`),
# `import "x"`, `import("x")`.
SPECIFIER = re.compile(r"""(?:(?<=[\s}])from|\bimport)\s*\(?\s*["']([^"']+)["']""")
A_YEAR = 365 * 86400


Response = tuple[int, http.client.HTTPMessage, bytes]


def get(server: servers.ServerProcess, path: str, **headers: str) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def page_assets(server: servers.ServerProcess) -> tuple[str, str]:
    """The stylesheet and the module script an editor page names."""
    status, _, body = get(server, "/d/static-files/")
    assert status == 200
    html = body.decode()
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/editor/editor[^"]*\.css)"', html)
    script = re.search(r'<script type="module" src="(/static/editor/main[^"]*\.js)"', html)
    assert stylesheet, html
    assert script, html
    return stylesheet[1], script[1]


def assert_cached_for_good(headers: http.client.HTTPMessage, path: str) -> None:
    cache = headers["Cache-Control"] or ""
    max_age = re.search(r"max-age=(\d+)", cache)
    assert "immutable" in cache, f"{path}: {cache!r}"
    assert max_age, f"{path}: {cache!r}"
    assert int(max_age[1]) >= A_YEAR, f"{path}: {cache!r}"


def served_modules(server: servers.ServerProcess, entry: str) -> dict[str, str]:
    """Every module reached from ``entry`` through its imports, as the browser resolves them."""
    modules: dict[str, str] = {}
    pending = [entry]
    while pending:
        path = pending.pop()
        if path in modules:
            continue
        status, _, body = get(server, path)
        assert status == 200, f"{path}: {status}"
        modules[path] = body.decode()
        for specifier in SPECIFIER.findall(modules[path]):
            assert specifier.startswith(("./", "../")), f"{path} imports {specifier!r}"
            pending.append(urljoin(path, specifier))
    return modules


@pytest.fixture
def worker(start_worker):
    return start_worker("static")


def test_the_page_names_its_stylesheet_and_script_by_hashed_names(worker):
    for path in page_assets(worker):
        assert HASHED.search(path), path


def test_hashed_files_are_served_with_a_long_immutable_cache(worker):
    for path in page_assets(worker):
        status, headers, _ = get(worker, path)
        assert status == 200, path
        assert_cached_for_good(headers, path)


def test_every_module_the_pages_load_has_a_hashed_name_served_for_good(worker, static_root):
    """The whole import graph, walked from the editor's main.js and the sharing page's
    share-page.js: old and new modules never mix in a browser."""
    _, main = page_assets(worker)
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    modules = served_modules(worker, main) | served_modules(
        worker, "/static/" + manifest["editor/share-page.js"]
    )
    for path, source in modules.items():
        assert HASHED.search(path), path
        for specifier in SPECIFIER.findall(source):
            assert HASHED.search(specifier), f"{path} imports {specifier!r}, which has no hash"
        assert_cached_for_good(get(worker, path)[1], path)
    reached = {HASHED.sub("", Path(path).name) for path in modules}
    assert reached == {path.name for path in (EDITOR_STATIC / "editor").glob("*.js")}


@pytest.mark.parametrize("path", ["/static/editor/main.js", "/static/editor/editor.css"])
def test_an_unhashed_name_is_not_served(worker, path):
    """Only the hashed copies are collected: a reference that escaped the rewriting fails at once."""
    status, headers, _ = get(worker, path)
    assert status == 404
    assert "immutable" not in (headers["Cache-Control"] or "")


def test_a_client_that_accepts_gzip_gets_the_compressed_copy(worker):
    _, main = page_assets(worker)
    _, plain_headers, plain = get(worker, main)
    status, headers, body = get(worker, main, **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == plain
    assert plain_headers["Content-Encoding"] is None
    assert_cached_for_good(headers, main)


def test_runserver_serves_the_apps_files_under_their_own_names(runserver):
    """DEBUG on, nothing collected (the fixture's STATIC_ROOT is empty): the quick start as it was."""
    stylesheet, main = page_assets(runserver)
    assert (stylesheet, main) == ("/static/editor/editor.css", "/static/editor/main.js")
    modules = served_modules(runserver, main)
    assert "/static/editor/client.js" in modules
    assert modules[main] == (EDITOR_STATIC / "editor" / "main.js").read_text()
    assert "immutable" not in (get(runserver, main)[1]["Cache-Control"] or "")


def test_a_worker_without_collected_static_files_refuses_to_start_naming_collectstatic(tmp_path):
    env = servers.server_environment(STATIC_ROOT=str(tmp_path / "never-collected"))
    args = ["-b", "127.0.0.1", "-p", "0", "realtime_site.asgi:application"]
    done = subprocess.run(
        [sys.executable, "-m", "editor.server", *args],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: DEBUG is off: run python manage.py collectstatic" in done.stderr
    assert str(tmp_path / "never-collected") in done.stderr
    assert "Listening on" not in done.stderr


def collect(source: Path, target: Path) -> dict[str, str]:
    """collectstatic, in this process, of ``source`` alone with the DEBUG-off storage: its manifest."""
    hashed = {"BACKEND": "realtime_site.static_storage.HashedStaticFilesStorage"}
    with override_settings(
        STATIC_ROOT=target,
        STATICFILES_DIRS=[source],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": hashed,
        },
    ):
        call_command("collectstatic", "--noinput", verbosity=0)
        from django.contrib.staticfiles.storage import staticfiles_storage

        return dict(staticfiles_storage.hashed_files)


def test_a_change_to_an_imported_module_renames_every_module_that_imports_it(tmp_path):
    """Hashes are taken after the rewriting, so a cached main.js never imports a module gone stale."""
    source = tmp_path / "source"
    shutil.copytree(EDITOR_STATIC, source)
    before = collect(source, tmp_path / "before")
    ot = source / "editor" / "ot.js"
    ot.write_text(ot.read_text() + "\n// changed\n")
    after = collect(source, tmp_path / "after")
    renamed = {name for name in before if before[name] != after[name]}
    # ot.js, what imports it (client.js) and what imports that (main.js); the stylesheet stays.
    assert {"editor/ot.js", "editor/client.js", "editor/main.js"} <= renamed
    assert "editor/editor.css" not in renamed
