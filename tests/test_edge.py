"""The site's edge over real handshakes and real HTTP, against real worker processes.

A WebSocket handshake is let in only to a /ws/ path, for a Host in ALLOWED_HOSTS, from
the page's own origin (scheme, host and port) or one in CSRF_TRUSTED_ORIGINS
(editor/handshakes.py). Every refusal, and every request with a foreign Host, is one
WARNING line in the worker's log and never a traceback (editor/logs.py). Production
settings redirect to HTTPS, except the health check, and send the browser's protections.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import pytest
import websockets
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission, User

from tests import servers
from tests.admin_http import OPERATOR_PASSWORD, AdminBrowser
from tests.conftest import LoggedErrors

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

TRUSTED_ORIGINS = "https://editor.example.com,https://*.trusted.example"
TIMEOUT = 10


@pytest.fixture
def worker(start_worker):
    """A worker serving 127.0.0.1 and localhost, trusting two other origins."""
    return start_worker("edge", CSRF_TRUSTED_ORIGINS=TRUSTED_ORIGINS)


async def handshake(
    worker: servers.ServerProcess,
    *,
    origin: str | None,
    host: str | None = None,
    path: str = "/ws/docs/edge/",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict | None]:
    """A real handshake to ``worker`` with this Host (default ``127.0.0.1:<port>``) and Origin
    (None: no header): 101 and the first frame, or the HTTP status it was refused with."""
    url = f"ws://{host or f'127.0.0.1:{worker.port}'}{path}"
    try:
        async with websockets.connect(
            url,
            host="127.0.0.1",  # whatever the Host header says, the worker is here
            port=worker.port,
            origin=origin,
            additional_headers=headers,
            proxy=None,
            open_timeout=TIMEOUT,
        ) as socket:
            return 101, json.loads(await socket.recv())
    except websockets.InvalidStatus as refused:
        return refused.response.status_code, None


def log_records(worker: servers.ServerProcess, fragment: str) -> list[tuple[str, str]]:
    """(level, message) of each line the worker logged through ``logging`` that holds ``fragment``."""
    found = []
    for line in worker.log().splitlines():
        if (match := LoggedErrors.LEVEL.match(line)) and fragment in line:
            found.append((match["level"], match["message"]))
    return found


def wait_for_access_log(worker: servers.ServerProcess, entry: str) -> None:
    """Daphne writes its access line once the request is answered: everything it logged
    for the request is in the log by then."""
    servers.wait_until(lambda: entry in worker.log(), timeout=TIMEOUT, what=f"{worker.name} to log {entry}")


def assert_one_warning(worker: servers.ServerProcess, fragment: str) -> str:
    records = log_records(worker, fragment)
    assert [level for level, _ in records] == ["WARNING"], records
    assert "Traceback" not in worker.log()
    return records[0][1]


async def test_the_pages_own_origin_is_let_in(worker):
    status, first = await handshake(worker, origin=worker.http_url)
    assert status == 101
    assert first["type"] == "snapshot"


async def test_the_own_origin_of_each_allowed_host_is_let_in(worker):
    host = f"localhost:{worker.port}"
    status, first = await handshake(worker, origin=f"http://{host}", host=host)
    assert (status, first["type"]) == (101, "snapshot")


@pytest.mark.parametrize(
    "origin",
    [
        "https://editor.example.com",
        "https://editor.example.com:443",
        "https://docs.trusted.example",
        "https://trusted.example",
    ],
)
async def test_an_origin_in_csrf_trusted_origins_is_let_in(worker, origin):
    status, first = await handshake(worker, origin=origin)
    assert (status, first["type"]) == (101, "snapshot")


REFUSED_ORIGINS = {
    "other port": "http://127.0.0.1:1",
    "other scheme": "https://127.0.0.1:{port}",
    "lookalike host": "http://127.0.0.1.evil.example:{port}",
    "lookalike localhost": "http://localhost.evil:{port}",
    "a sibling host": "http://localhost:{port}",
    "null": "null",
    "with a path": "http://127.0.0.1:{port}/d/x/",
    "trusted host, other scheme": "http://editor.example.com",
    "trusted host, other port": "https://editor.example.com:8443",
    "trusted domain as a suffix only": "https://untrusted.example",
}


@pytest.mark.parametrize("origin", REFUSED_ORIGINS.values(), ids=REFUSED_ORIGINS.keys())
async def test_any_other_origin_is_refused_with_403_and_one_warning(worker, origin):
    origin = origin.format(port=worker.port)
    assert await handshake(worker, origin=origin) == (403, None)
    wait_for_access_log(worker, "WSREJECT /ws/docs/edge/")
    message = assert_one_warning(worker, "handshake refused")
    assert (
        f"origin {origin!r} is neither http://127.0.0.1:{worker.port} nor in CSRF_TRUSTED_ORIGINS" in message
    )


async def test_a_handshake_without_origin_is_refused_with_403_and_one_warning(worker):
    assert await handshake(worker, origin=None) == (403, None)
    wait_for_access_log(worker, "WSREJECT /ws/docs/edge/")
    assert "no Origin header" in assert_one_warning(worker, "handshake refused")


async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin(worker):
    host = f"evil.example:{worker.port}"
    assert await handshake(worker, origin=f"http://{host}", host=host) == (403, None)
    wait_for_access_log(worker, "WSREJECT /ws/docs/edge/")
    assert f"host {host!r} is not in ALLOWED_HOSTS" in assert_one_warning(worker, "handshake refused")


async def test_x_forwarded_proto_is_believed_from_a_trusted_proxy_only(start_worker):
    """Behind a TLS proxy the page is https although the worker's socket is plain ws."""
    https_origin = "https://127.0.0.1:{port}"
    behind_proxy = start_worker("proxied", TRUSTED_PROXIES="127.0.0.1")
    forwarded = {"X-Forwarded-Proto": "https"}
    status, _ = await handshake(
        behind_proxy, origin=https_origin.format(port=behind_proxy.port), headers=forwarded
    )
    assert status == 101
    status, _ = await handshake(behind_proxy, origin=behind_proxy.http_url, headers=forwarded)
    assert status == 403
    direct = start_worker("direct")
    status, _ = await handshake(direct, origin=https_origin.format(port=direct.port), headers=forwarded)
    assert status == 403


@pytest.mark.parametrize("path", ["/d/x/", "/", "/admin/", "/wsx/docs/a/"])
async def test_a_websocket_path_outside_ws_is_refused_with_403_and_one_warning(worker, path):
    """Channels' URLRouter would answer it with a 500 and a 68-line traceback."""
    assert await handshake(worker, origin=worker.http_url, path=path) == (403, None)
    wait_for_access_log(worker, f"WSREJECT {path}")
    message = assert_one_warning(worker, "handshake refused")
    assert f"no WebSocket endpoint outside /ws/ path={path!r}" in message


async def test_an_unknown_ws_path_still_gets_its_error_frame_and_4404(worker):
    url = f"{worker.ws_url}/ws/nothing-here/"
    async with websockets.connect(url, origin=worker.http_url, proxy=None) as socket:
        assert json.loads(await socket.recv())["code"] == "unknown-document"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd.code == 4404


def get(server: servers.ServerProcess, path: str, host: str) -> int:
    request = urllib.request.Request(server.http_url + path, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_request_with_a_foreign_host_is_a_400_and_one_warning(worker):
    """Django logs DisallowedHost at ERROR with a 31-line traceback, printed by Daphne's root logger."""
    assert get(worker, "/d/foreign/", "evil.example") == 400
    wait_for_access_log(worker, '"GET /d/foreign/" 400')
    message = assert_one_warning(worker, "Invalid HTTP_HOST header")
    assert "django.security.DisallowedHost" in message


def test_a_foreign_host_is_one_warning_on_runserver_too(runserver):
    """With DEBUG on, Django's own console handler would print the line a second time."""
    assert get(runserver, "/d/foreign/", "evil.example") == 400
    wait_for_access_log(runserver, "HTTP GET /d/foreign/ 400")
    assert_one_warning(runserver, "Invalid HTTP_HOST header")


def test_permission_denied_is_one_warning_without_its_traceback(worker):
    """A 4xx raised as an exception: Django logs it at WARNING with the traceback."""
    viewer = User.objects.create(
        username="viewer", password=make_password(OPERATOR_PASSWORD, hasher="pbkdf2_sha256"), is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_document"))
    admin = AdminBrowser(worker.http_url)
    admin.log_in("viewer", OPERATOR_PASSWORD)
    with pytest.raises(urllib.error.HTTPError) as refused:
        admin.get("/admin/editor/document/add/")
    assert refused.value.code == 403
    wait_for_access_log(worker, '"GET /admin/editor/document/add/" 403')
    assert_one_warning(worker, "Forbidden (Permission denied): /admin/editor/document/add/")


def plain_get(server: servers.ServerProcess, path: str, **headers: str) -> http.client.HTTPResponse:
    """One GET over plain HTTP, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    connection.request(
        "GET", path, headers={name.replace("_", "-"): value for name, value in headers.items()}
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture
def https_worker(start_worker):
    """A worker as deployed behind a TLS-terminating proxy: the settings' production defaults."""
    return start_worker("https", SECURE_SSL_REDIRECT="true", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")


def test_plain_http_is_redirected_to_https(https_worker):
    response = plain_get(https_worker, "/d/notes/")
    assert response.status == 301
    assert response.headers["Location"] == f"https://127.0.0.1:{https_worker.port}/d/notes/"


def test_the_health_check_answers_over_plain_http(https_worker):
    """compose's healthcheck and load balancers call a worker directly, without TLS."""
    response = plain_get(https_worker, "/healthz")
    assert response.status == 200


def test_a_page_served_over_https_carries_the_browsers_protections(https_worker):
    response = plain_get(https_worker, "/d/notes/", X_Forwarded_Proto="https")
    assert response.status == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    directives = set(response.headers["Content-Security-Policy"].split("; "))
    assert directives == {
        "default-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    }
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_page_served_over_plain_http_gets_no_hsts(worker):
    """HSTS over plain HTTP would be ignored by browsers, and Django does not send it there."""
    response = plain_get(worker, "/d/notes/")
    assert response.status == 200
    assert "Strict-Transport-Security" not in response.headers
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
