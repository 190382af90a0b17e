"""Settings come from the environment; production refuses to start insecurely."""

import json
import os
import secrets
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
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "redirect_exempt": settings.SECURE_REDIRECT_EXEMPT,
    "hsts": [
        settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD
    ],
    "proxy_ssl_header": settings.SECURE_PROXY_SSL_HEADER,
    "csp": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"],
}))
"""
CONFIG_NAMES = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PREFIX",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REFERRER_POLICY",
)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", PRINT_SETTINGS], **env)


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    """``command`` with only these settings in its environment."""
    environment = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    environment.update(DJANGO_SETTINGS_MODULE="realtime_site.settings", **env)
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


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
    assert values["layer"] == "editor.live.redis_layer.RedisPubSubLayer"
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


def production_env() -> dict[str, str]:
    """What a real deployment sets: DEBUG off, a key like the docs' recipe makes, its host."""
    return {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "editor.example"}


def test_check_deploy_finds_nothing_under_production_settings():
    """HSTS, the HTTPS redirect, secure cookies, nosniff: Django's own list, with no warning left."""
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_redirects_to_https_and_asks_for_hsts_by_default():
    values = json.loads(load_settings(**production_env()).stdout)
    assert values["ssl_redirect"] is True
    assert values["hsts"] == [365 * 86400, True, True]
    assert values["redirect_exempt"] == [
        r"^healthz$",
        r"^readyz$",
    ]  # compose's health check speaks plain HTTP
    assert values["proxy_ssl_header"] is None  # only where a proxy overwrites the header


def test_development_neither_redirects_nor_asks_for_hsts():
    values = json.loads(load_settings().stdout)
    assert values["ssl_redirect"] is False
    assert values["hsts"][0] == 0


def test_a_plain_http_deployment_turns_the_redirect_off_and_hsts_is_tunable():
    env = {**production_env(), "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "3600"}
    env.update(SECURE_HSTS_INCLUDE_SUBDOMAINS="false", SECURE_HSTS_PRELOAD="false")
    values = json.loads(load_settings(**env).stdout)
    assert values["ssl_redirect"] is False
    assert values["hsts"] == [3600, False, False]


def test_the_proxys_ssl_header_is_named_as_the_proxy_sends_it():
    values = json.loads(load_settings(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto").stdout)
    assert values["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    result = load_settings(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header name" in result.stderr


def test_the_content_security_policy_allows_this_origin_only_in_development_too():
    assert json.loads(load_settings().stdout)["csp"] == {
        "default-src": ["'self'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }


def test_a_trusted_origin_that_is_not_an_origin_stops_the_worker():
    """It would otherwise never match, and sockets from that site would be refused unexplained."""
    result = run(
        [sys.executable, "-c", "import realtime_site.asgi"], CSRF_TRUSTED_ORIGINS="editor.example.com"
    )
    assert result.returncode != 0
    assert "CSRF_TRUSTED_ORIGINS: 'editor.example.com' is not an origin" in result.stderr
