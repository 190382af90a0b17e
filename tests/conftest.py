"""Shared fixtures: the real Redis, the real PostgreSQL, real server processes.

A missing service fails the run: nothing here skips.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests import servers

RUN_ID = uuid.uuid4().hex[:10]
REDIS_URL = os.environ["TEST_REDIS_URL"]
REDIS_PREFIX = f"rt-test-{RUN_ID}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright leaves an event loop behind that async tests trip on."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise pytest.UsageError(
            f"Redis is required at {REDIS_URL} and is not reachable ({error}); "
            "see /work/.library/env/ or README.md for how to start it"
        ) from None


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
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
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


@pytest.fixture
def worker_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for server processes: this run's test database and Redis prefix."""
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql", "multi-process tests need PostgreSQL"
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return servers.server_environment(DATABASE_URL=url, REDIS_URL=REDIS_URL, REDIS_PREFIX=REDIS_PREFIX)


@pytest.fixture
def start_worker(worker_env, tmp_path):
    """Start real Daphne workers on free ports; all are stopped after the test."""
    started: list[servers.ServerProcess] = []

    def start(name: str = "worker", **env: str) -> servers.ServerProcess:
        worker = servers.daphne_worker(f"{name}-{len(started)}", {**worker_env, **env}, tmp_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise pytest.UsageError("Chromium is required: apt-get install -y chromium")
    return path
