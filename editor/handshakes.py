"""Which WebSocket handshakes reach a consumer: a path under /ws/, a Host this site serves,
and an Origin that is the page's own or trusted.

A browser sends its cookies with a WebSocket handshake to any site, so the Origin
check is all that keeps another page from editing as the visitor (cross-site
WebSocket hijacking). Channels' ``AllowedHostsOriginValidator`` compares host names
only: pages on ``http://127.0.0.1:1`` or ``https://127.0.0.1:8000`` could open
sockets to a site on ``http://127.0.0.1:8000``. Here the origin must match in
scheme, host and port, or be listed in ``CSRF_TRUSTED_ORIGINS`` (Django's list of
other origins trusted to act for a signed-in visitor: a socket is one more way to
act). Channels' ``URLRouter`` answers a path it has no route for with a 500 and a
traceback; here such a path never reaches it.

A refused handshake is closed before it is accepted (Daphne answers 403) and
logged in one WARNING line, without a traceback.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from .live.sockets import ClientSocket
from .network import client_address, from_trusted_proxy
from .store.drivers import database_unavailable
from .wire import protocol

logger = logging.getLogger(__name__)

SOCKET_PREFIX = "/ws/"
DEFAULT_PORTS = {"http": 80, "https": 443}
# A Host or Origin is the client's text: logged quoted and cut short.
SHOWN_CHARS = 200


@dataclass(frozen=True)
class Origin:
    """``scheme://host:port`` with the default port filled in; IPv6 hosts keep their brackets."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_origin(text: str) -> Origin | None:
    """An Origin header's value, or None for anything that is not a bare http(s) origin
    (``null``, a path, credentials, another scheme)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host.removesuffix(".")
    return Origin(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme])


@dataclass(frozen=True)
class TrustedOrigins:
    """``CSRF_TRUSTED_ORIGINS`` read as Django's CSRF check reads it: an exact origin, or
    ``scheme://*.domain[:port]`` for that domain and its subdomains."""

    exact: frozenset[Origin]
    domains: frozenset[Origin]  # host is the domain the wildcard stood before

    @classmethod
    @functools.cache
    def from_settings(cls, entries: tuple[str, ...]) -> TrustedOrigins:
        exact, domains = set(), set()
        for entry in entries:
            wildcard = "://*." in entry
            origin = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry.rstrip("/"))
            if origin is None:
                raise ImproperlyConfigured(
                    f"CSRF_TRUSTED_ORIGINS: {entry!r} is not an origin like https://editor.example.com"
                )
            (domains if wildcard else exact).add(origin)
        return cls(frozenset(exact), frozenset(domains))

    def __contains__(self, origin: Origin) -> bool:
        return origin in self.exact or any(
            origin.scheme == domain.scheme
            and origin.port == domain.port
            and is_same_domain(origin.host, "." + domain.host)
            for domain in self.domains
        )


def _headers(scope: dict, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def _shown(text: str) -> str:
    return repr(text[:SHOWN_CHARS] + ("..." if len(text) > SHOWN_CHARS else ""))


def _allowed_hosts() -> list[str]:
    """As ``HttpRequest.get_host`` has them: in DEBUG an empty list means localhost."""
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def own_origin(scope: dict, host: str) -> Origin:
    """The origin of the page this handshake's site serves: http for ws, https for wss (or
    what a trusted proxy's X-Forwarded-Proto says), host and port from the Host header."""
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    if from_trusted_proxy(scope, settings.TRUSTED_PROXY_NETWORKS):
        forwarded = [value.split(",")[0].strip().lower() for value in _headers(scope, b"x-forwarded-proto")]
        if forwarded and forwarded[0] in DEFAULT_PORTS:
            scheme = forwarded[0]
    domain, port = split_domain_port(host)
    return Origin(scheme, domain, int(port) if port else DEFAULT_PORTS[scheme])


class HandshakeGuard:
    """ASGI middleware in front of the WebSocket router: refuses a handshake to a path
    outside /ws/, for a Host not in ALLOWED_HOSTS, or from an origin other than the page's
    own or a trusted one. Anything else passes through untouched."""

    def __init__(self, application) -> None:
        self.application = application
        self.trusted_origins()  # a malformed entry stops the process at startup

    @staticmethod
    def trusted_origins() -> TrustedOrigins:
        return TrustedOrigins.from_settings(tuple(settings.CSRF_TRUSTED_ORIGINS))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and (refusal := self.refusal(scope)):
            client = client_address(scope, settings.TRUSTED_PROXY_NETWORKS)
            logger.warning("handshake refused: %s path=%s client=%s", refusal, _shown(scope["path"]), client)
            await receive()  # websocket.connect
            await send({"type": "websocket.close"})  # before accept: Daphne answers 403
            return None
        return await self.application(scope, receive, send)

    def refusal(self, scope: dict) -> str | None:
        """Why this handshake is refused, in words for the log; None to let it through."""
        if not scope["path"].startswith(SOCKET_PREFIX):
            return f"no WebSocket endpoint outside {SOCKET_PREFIX}"
        hosts = _headers(scope, b"host")
        if len(hosts) != 1:
            return f"{len(hosts)} Host headers"
        domain, _ = split_domain_port(hosts[0])
        if not domain or not validate_host(domain, _allowed_hosts()):
            return f"host {_shown(hosts[0])} is not in ALLOWED_HOSTS"
        origins = _headers(scope, b"origin")
        if len(origins) != 1:
            return "no Origin header" if not origins else f"{len(origins)} Origin headers"
        origin = parse_origin(origins[0])
        expected = own_origin(scope, hosts[0])
        if origin is None or (origin != expected and origin not in self.trusted_origins()):
            return f"origin {_shown(origins[0])} is neither {expected} nor in CSRF_TRUSTED_ORIGINS"
        return None


class OutageGuard:
    """ASGI middleware around the session and user lookup (AuthMiddlewareStack): a handshake
    whose session cookie cannot be looked up because the database is away is answered as the
    consumer answers a connect then (docs/protocol.md: ``unavailable``, close 1013, the browser
    tries again), not with Daphne's 500 and a traceback."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        accepted = False

        async def watched_send(message):
            nonlocal accepted
            accepted = accepted or message["type"] == "websocket.accept"
            await send(message)

        try:
            return await self.application(scope, receive, watched_send)
        except Exception as error:
            if accepted or not database_unavailable(error):
                raise
            client = client_address(scope, settings.TRUSTED_PROXY_NETWORKS)
            logger.warning("handshake answered 1013: database unavailable (%s) client=%s", error, client)
            await send({"type": "websocket.accept"})
            socket = ClientSocket(
                scope,
                fallback=lambda text_data: send({"type": "websocket.send", "text": text_data}),
                fallback_close=lambda code: send({"type": "websocket.close", "code": code}),
            )
            message = "the server cannot reach its database at the moment; trying again shortly"
            await socket.send(protocol.error_frame("unavailable", message))
            await socket.close(protocol.CLOSE_TRY_AGAIN_LATER)
            return None
