"""Who asks: a token's user, or nobody; the Bearer scheme, and each caller's request rate.

Cookies are not read: the API is for programs, which send a token, and a
request a browser could be tricked into sending carries none (no CSRF).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from ninja.security import HttpBearer

from editor.access import grants
from editor.live.limits import Rate, TokenBucket
from editor.live.threads import in_thread_pool
from editor.models import ApiToken
from editor.network import client_peer

from . import tokens
from .problems import ApiError


@dataclass(frozen=True, slots=True)
class Caller:
    """The token (None: anonymous) and where the request came from."""

    token: ApiToken | None
    address: str

    @property
    def visitor(self) -> grants.Visitor:
        """As the access rules know them: the token's user, with no links and no browser session."""
        return grants.Visitor(user_id=self.token.user_id if self.token else None)

    @property
    def rate_key(self) -> str:
        return f"token {self.token.pk}" if self.token else f"address {self.address}"

    def require_write(self) -> ApiToken:
        """The token, if it may write; else the refusal (401 without one, 403 with a read token)."""
        if self.token is None:
            raise ApiError(
                401,
                "unauthorized",
                "writing needs a token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        if self.token.scope != ApiToken.WRITE:
            raise ApiError(
                403,
                "insufficient-scope",
                "this token may only read; make one with scope write",
                headers={"WWW-Authenticate": 'Bearer realm="api", error="insufficient_scope", scope="write"'},
            )
        return self.token


class KeyedBuckets:
    """A token bucket per key (a token, an address), for this process; the least recently used
    are forgotten past ``most_keys`` (a forgotten key starts again with a full bucket)."""

    def __init__(self, rate: Rate, *, most_keys: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.rate, self.most_keys, self.clock = rate, most_keys, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0.0 when within the rate; else the seconds until it would be."""
        bucket = self._buckets.pop(key, None) or self.rate.bucket(self.clock)
        self._buckets[key] = bucket
        while len(self._buckets) > self.most_keys:
            self._buckets.popitem(last=False)
        return bucket.take()

    def wait(self, key: str) -> float:
        """What ``take`` would answer, taking nothing."""
        bucket = self._buckets.get(key)
        return bucket.wait() if bucket is not None else 0.0


_requests = KeyedBuckets(settings.EDITOR_API_RATES.requests)
edits = KeyedBuckets(settings.EDITOR_API_RATES.edits)


def reset_rates() -> None:
    """Full buckets for everyone (tests, and a changed setting)."""
    global _requests, edits
    _requests = KeyedBuckets(settings.EDITOR_API_RATES.requests)
    edits = KeyedBuckets(settings.EDITOR_API_RATES.edits)


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; without the header, the caller is anonymous.

    A header with a token that is unknown, revoked or expired is refused (401), not taken
    as anonymous: a script whose token stopped working is told so.
    """

    async def __call__(self, request) -> Caller:
        """Runs first, before the body is parsed: its size, the token, the caller's rate."""
        most = settings.EDITOR_API_MAX_BODY_BYTES
        if int(request.headers.get("Content-Length") or 0) > most or len(request.body) > most:
            raise ApiError(413, "body-too-large", f"request bodies are limited to {most} bytes")
        host, _ = client_peer(request.scope, settings.TRUSTED_PROXY_NETWORKS)
        header = request.headers.get("Authorization")
        token = None
        if header:
            # A refused token costs its address a request, and an address out of requests
            # is refused before its token is looked up: guessing tokens is rate-limited.
            address_key = f"address {host}"
            if wait := _requests.wait(address_key):
                raise ApiError.rate_limited(wait, "requests")
            scheme, _, secret = header.partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                token = await in_thread_pool(tokens.usable_token)(secret.strip())
            if token is None:
                _requests.take(address_key)
                if scheme.lower() != "bearer" or not secret.strip():
                    raise _unauthorized("send Authorization: Bearer <token>", "invalid_request")
                raise _unauthorized("the token is unknown, revoked or expired", "invalid_token")
        caller = Caller(token=token, address=host)
        if wait := _requests.take(caller.rate_key):
            raise ApiError.rate_limited(wait, "requests")
        return caller

    def authenticate(self, request, token):  # the scheme is read in __call__
        raise NotImplementedError


def _unauthorized(detail: str, error: str) -> ApiError:
    return ApiError(
        401, "unauthorized", detail, headers={"WWW-Authenticate": f'Bearer realm="api", error="{error}"'}
    )
