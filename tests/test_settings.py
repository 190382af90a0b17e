"""Settings come from the environment; production refuses to start insecurely."""

import json
import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

PRINT_SETTINGS = """
import django, json
django.setup()
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_config": settings.CHANNEL_LAYERS["default"].get("CONFIG"),
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""
CONFIG_NAMES = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "ALLOWED_HOSTS")


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    environment.update(DJANGO_SETTINGS_MODULE="realtime_site.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def test_development_defaults_need_nothing():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["db_name"].endswith("db.sqlite3")
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert "localhost" in values["allowed_hosts"]


def test_redis_url_switches_to_the_redis_channel_layer():
    result = load_settings(REDIS_URL="redis://127.0.0.1:6379/4", REDIS_PREFIX="mine")
    values = json.loads(result.stdout)
    assert values["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert values["layer_config"] == {"hosts": ["redis://127.0.0.1:6379/4"], "prefix": "mine"}


def test_database_url_selects_postgresql():
    result = load_settings(DATABASE_URL="postgres://u:p@db.example:5432/editor")
    values = json.loads(result.stdout)
    assert (values["engine"], values["db_name"]) == ("django.db.backends.postgresql", "editor")


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "editor.example"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "set SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "set SECRET_KEY"),
        ({"ALLOWED_HOSTS": ""}, "set ALLOWED_HOSTS"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
    ],
)
def test_production_refuses_insecure_settings(override, message):
    result = load_settings(**{**PRODUCTION, **override})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_starts_with_real_settings():
    result = load_settings(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


def test_a_malformed_trusted_proxy_is_refused():
    result = load_settings(TRUSTED_PROXIES="10.0.0.0/8,not-an-address")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr
