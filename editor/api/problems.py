"""Every refusal of the API as an RFC 9457 problem (``application/problem+json``).

The body is ``{"type", "title", "status", "detail", "code"}``; ``code`` is the
protocol's error code where there is one (docs/protocol.md), so a client
handles an edit refused over HTTP as it would over the socket.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus

from django.http import HttpResponse

from editor.ot.server import EditRejected

PROBLEM_TYPE = "application/problem+json"

# The protocol's codes for a refused edit, and the HTTP status each is answered with.
STATUS_OF_CODE = {
    "invalid-frame": 422,
    "invalid-op": 422,
    "document-too-large": 422,
    "future-revision": 409,
    "stale-revision": 409,
    "duplicate-id": 409,
    EditRejected.PRECONDITION_FAILED: 412,
    "read-only": 403,
    "forbidden": 403,
    "unknown-document": 404,
    "rate-limited": 429,
    "unavailable": 503,
    "internal-error": 503,
}


class ApiError(Exception):
    """Raised anywhere under an endpoint; answered as a problem by the API's handler."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.extra = extra or {}  # more members of the problem's body

    @classmethod
    def of_rejection(cls, rejected: EditRejected) -> ApiError:
        return cls(STATUS_OF_CODE.get(rejected.code, 409), rejected.code, rejected.message)

    @classmethod
    def not_found(cls, slug: str) -> ApiError:
        """Also what a private document is to whoever may not see it: its existence is not told."""
        return cls(404, "unknown-document", f"no document {slug!r} that you can see")

    @classmethod
    def rate_limited(cls, retry_after: float, what: str) -> ApiError:
        seconds = max(1, math.ceil(retry_after))
        return cls(
            429,
            "rate-limited",
            f"too many {what}; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    @classmethod
    def unavailable(cls, detail: str) -> ApiError:
        return cls(503, "unavailable", detail, headers={"Retry-After": "5"})


def problem_body(status: int, code: str, detail: str, **extra) -> dict:
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(error: ApiError, **extra) -> HttpResponse:
    body = problem_body(error.status, error.code, error.detail, **error.extra, **extra)
    response = HttpResponse(json.dumps(body), status=error.status, content_type=PROBLEM_TYPE)
    for name, value in error.headers.items():
        response[name] = value
    if error.status >= 500:
        # Said where it happened, as a warning: an outage is not Django's ERROR "Service
        # Unavailable" once a request.
        response._has_been_logged = True
    return response
