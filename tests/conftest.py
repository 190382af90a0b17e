"""Shared fixtures: the real Redis, the real PostgreSQL, real server processes.

A missing service fails the run: nothing here skips.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import override_settings

from tests import servers

RUN_ID = uuid.uuid4().hex[:10]
REDIS_URL = os.environ["TEST_REDIS_URL"]
REDIS_PREFIX = f"rt-test-{RUN_ID}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright leaves an event loop behind that async tests trip on."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.fixturenames.append("close_async_orm_connections")


class LoggedErrors(logging.Handler):
    """What the code under test logged with an exception or at ERROR and above, in this process
    and in the server processes the test started; checked when the test ends.

    A test that expects some names them: ``@pytest.mark.logs_errors("fragment", ...)``; every
    fragment must then be logged, and nothing else.
    """

    # A server process's log line with its level (Django's format or Daphne's).
    LEVEL = re.compile(r"^\d{4}-\d\d-\d\d [\d:,.]+ (?P<level>[A-Z]+)\s+(?P<message>.*)$")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.messages.append(f"{record.name}: {record.getMessage()}")

    def add_process_log(self, name: str, log: str) -> None:
        """The log of a stopped server process: its ERROR lines, and every line a traceback follows."""
        last = ""
        for line in log.splitlines():
            if match := self.LEVEL.match(line):
                last = f"{name}: {match['message']}"
                if match["level"] in ("ERROR", "CRITICAL"):
                    self.messages.append(last)
            elif line.startswith("Traceback (most recent call last)") and last not in self.messages[-1:]:
                self.messages.append(last or f"{name}: a traceback")

    def check(self, expected: tuple[str, ...]) -> None:
        unexpected = [m for m in self.messages if not any(fragment in m for fragment in expected)]
        assert not unexpected, "the code under test logged errors the test does not expect:\n" + "\n".join(
            unexpected
        )
        missing = [f for f in expected if not any(f in m for m in self.messages)]
        assert not missing, f"errors the test expects were not logged: {missing}"


@pytest.fixture(autouse=True)
def logged_errors(request):
    """An exception logged by the code under test fails the test, unless the test expects it."""
    handler = LoggedErrors()
    # The editor's logger does not propagate (settings.LOGGING); the root catches the rest
    # (asyncio's unretrieved task exceptions, Django's and Channels' own).
    loggers = [logging.getLogger("editor"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    marker = request.node.get_closest_marker("logs_errors")
    handler.check(marker.args if marker else ())


@pytest.fixture
async def close_async_orm_connections():
    """Stop the test's worker (its loop ends with the test), as a worker process's end would,
    and close what the async ORM opened in asgiref's thread, as a request's end would.

    Left open, those connections keep the test database from being dropped.
    """
    yield
    from editor.live import worker

    await worker.stop()
    await sync_to_async(connections.close_all)()


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise pytest.UsageError(
            f"Redis is required at {REDIS_URL} and is not reachable ({error}); "
            "see /work/.library/env/ or README.md for how to start it"
        ) from None


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Users made in tests get a fast hash: the production hasher costs 0.6 s a password here.

    Server processes run the production settings, which do not know that hasher: a user who
    signs in through one is made with ``tests.admin_http.create_operator``.
    """
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    ):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """This run's test database, dropped at the end even if connections to it were left open.

    Connections the ORM opened in tasks other than a test's own (asgiref hands them to the
    context of the task that made them) close only when the garbage collector finds them;
    PostgreSQL refuses to drop a database anyone is connected to. The database is this run's.
    """
    yield
    if connections["default"].vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connections.close_all()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """This run's own test database, so concurrent runs on one server never collide."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["TEST"]["NAME"] = str(Path(f"/tmp/realtime-test-{RUN_ID}.sqlite3"))
    else:
        database["TEST"]["NAME"] = f"test_realtime_{RUN_ID}"


@pytest.fixture
def redis_channel_layer(settings) -> dict:
    """Switch the in-process channel layer to the real Redis, under this run's prefix."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "editor.live.redis_layer.RedisPubSubLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_PREFIX},
        }
    }
    return settings.CHANNEL_LAYERS


@pytest.fixture(params=["memory", "redis"])
def channel_layer_kind(request) -> str:
    """Run a test once on the in-memory layer and once on the Redis layer."""
    if request.param == "redis":
        request.getfixturevalue("redis_channel_layer")
    return request.param


@pytest.fixture(scope="session")
def static_root() -> Path:
    """The static files as DEBUG-off workers serve them (hashed names, a manifest), collected
    once for the session: ``servers.server_environment`` gives every such process this STATIC_ROOT."""
    return servers.collected_static()


@pytest.fixture
def worker_env(django_db_setup, django_db_blocker, static_root) -> dict[str, str]:
    """Environment for server processes: this run's test database, Redis prefix and static files."""
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql", "multi-process tests need PostgreSQL"
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return servers.server_environment(
        DATABASE_URL=url, REDIS_URL=REDIS_URL, REDIS_PREFIX=REDIS_PREFIX, STATIC_ROOT=str(static_root)
    )


@pytest.fixture
def start_worker(worker_env, tmp_path, logged_errors):
    """Start real Daphne workers on free ports; all are stopped after the test, and what they
    logged is checked like this process's own logs."""
    started: list[servers.ServerProcess] = []

    def start(name: str = "worker", port: int = 0, **env: str) -> servers.ServerProcess:
        worker = servers.daphne_worker(f"{name}-{len(started)}", {**worker_env, **env}, tmp_path, port)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    for worker in started:
        logged_errors.add_process_log(worker.name, worker.log())


@pytest.fixture
def runserver(tmp_path, logged_errors):
    """``manage.py runserver`` as a developer starts it: DEBUG, SQLite, the in-memory layer."""
    # Nothing collected: with DEBUG on, static files come from the apps under their own names.
    never_collected = tmp_path / "static-never-collected"
    never_collected.mkdir()
    env = servers.server_environment(STATIC_ROOT=str(never_collected))
    for name in ("REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        env.pop(name, None)
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}", PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=servers.ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server = servers.runserver("runserver", env, tmp_path)
    yield server
    server.stop()
    logged_errors.add_process_log(server.name, server.log())


CHROMIUM = "/usr/bin/chromium"
# Without the network flags Chromium keeps calling home, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright's sync API, for one test module.

    Playwright keeps an event loop running in the main thread while it is
    started, which makes Django refuse ORM calls there (even the test
    database's flush); they do not run concurrently with it, so the check is
    lifted for this module only (never for the servers it starts).
    """
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is required for the browser tests: apt-get install -y chromium")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    playwright.stop()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def poison_edits(monkeypatch) -> str:
    """Make every batch that holds an edit with the returned id fail ("database on fire").

    It fails when the engine applies that edit: inside the locking
    transaction, or before the optimistic statement is sent.
    """
    from editor.ot import server

    accept = server.accept

    def failing(log, edit, **limits):
        if edit.op_id == "poison":
            raise RuntimeError("database on fire")
        return accept(log, edit, **limits)

    monkeypatch.setattr(server, "accept", failing)
    return "poison"


@pytest.fixture
def fail_once(monkeypatch):
    """Make ``module.name`` raise RuntimeError("database on fire") on its next call only."""

    def arm(module, name: str) -> None:
        original = getattr(module, name)

        def failing(*args, **kwargs):
            monkeypatch.setattr(module, name, original)
            raise RuntimeError("database on fire")

        monkeypatch.setattr(module, name, failing)

    return arm
