"""``Idempotency-Key`` on every POST: a repeat of a request gets the first one's answer.

As the IETF draft (httpapi-idempotency-key-header) and Stripe do it: the key
is the caller's (scoped to its token), the answer is kept for
EDITOR_API_IDEMPOTENCY_HOURS with a fingerprint of the request; the same key
with another body is refused (422), and a repeat while the first is still
being answered waits its turn (409). Answers that say "try again" (429 and
5xx) are not kept. An edit made under a key takes its id from the key, so a
first try that died after its commit is found by that id on the repeat.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from editor.live.threads import in_thread_pool
from editor.models import ApiToken, IdempotentRequest

from .callers import Caller
from .problems import ApiError, problem_body

HEADER = "Idempotency-Key"
KEY = re.compile(r"[!-~]{1,255}")
# What a replayed answer carries again, besides its status and body.
KEPT_HEADERS = ("Location", "ETag")
# A first request still unanswered after this long died: a repeat runs it again.
ABANDONED_AFTER = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Reply:
    """What an endpoint answers: kept as it is, and given again to a repeat."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, *, replayed: bool = False) -> HttpResponse:
        response = HttpResponse(json.dumps(self.body), status=self.status, content_type="application/json")
        if self.status >= 400:
            response["Content-Type"] = "application/problem+json"
        for name, value in self.headers.items():
            response[name] = value
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# An endpoint's work, given the seed of its edit ids (None without a key).
Work = Callable[[str | None], Awaitable[Reply]]


async def run(request, caller: Caller, work: Work) -> HttpResponse:
    """``work``'s answer, or the answer it gave to an earlier request with the same key."""
    key = request.headers.get(HEADER)
    if key is None:
        return (await work(None)).response()
    if not KEY.fullmatch(key):
        raise ApiError(
            400, "invalid-idempotency-key", "Idempotency-Key is 1 to 255 printable ASCII characters"
        )
    token = caller.require_write()
    fingerprint = request_fingerprint(request.method, request.path, request.body)
    record, first = await in_thread_pool(_claim)(token, key, fingerprint)
    if not first:
        if record.fingerprint != fingerprint:
            raise ApiError(
                422, "idempotency-key-reused", "this Idempotency-Key was used for a different request"
            )
        if record.status is not None:
            return Reply(record.status, record.body, _headers(record)).response(replayed=True)
        raise ApiError(
            409,
            "idempotency-key-in-use",
            "a request with this Idempotency-Key is still being answered",
            headers={"Retry-After": "1"},
        )
    try:
        # The body is in the seed: a key used again once its answer is forgotten makes a new edit.
        reply = await work(f"{token.pk}:{key}:{fingerprint}")
    except ApiError as error:
        reply = Reply(error.status, problem_body(error.status, error.code, error.detail), error.headers)
    except BaseException:
        await in_thread_pool(_forget)(record.pk)
        raise
    if reply.status == 429 or reply.status >= 500:
        await in_thread_pool(_forget)(record.pk)
    else:
        await in_thread_pool(_keep)(record.pk, reply)
    return reply.response()


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


def _headers(record: IdempotentRequest) -> dict[str, str]:
    return dict(record.headers)


def _claim(token: ApiToken, key: str, fingerprint: str) -> tuple[IdempotentRequest, bool]:
    """The key's record, made now (True) or earlier (False; one left unanswered too long is
    taken over, as if made now)."""
    now = timezone.now()
    expired = now - timedelta(hours=settings.EDITOR_API_IDEMPOTENCY_HOURS)
    IdempotentRequest.objects.filter(token=token, key=key, created_at__lt=expired).delete()
    record, created = IdempotentRequest.objects.get_or_create(
        token=token, key=key, defaults={"fingerprint": fingerprint}
    )
    if created:
        return record, True
    abandoned = record.status is None and record.created_at < now - ABANDONED_AFTER
    if abandoned and record.fingerprint == fingerprint:
        taken = IdempotentRequest.objects.filter(pk=record.pk, status=None, created_at=record.created_at)
        if taken.update(created_at=now):
            return record, True
    return record, False


def _keep(record_id: int, reply: Reply) -> None:
    IdempotentRequest.objects.filter(pk=record_id).update(
        status=reply.status,
        body=reply.body,
        headers={name: value for name, value in reply.headers.items() if name in KEPT_HEADERS},
    )


def _forget(record_id: int) -> None:
    IdempotentRequest.objects.filter(pk=record_id).delete()


def forget_expired() -> int:
    """Delete the answers older than EDITOR_API_IDEMPOTENCY_HOURS (from expire_sessions)."""
    expired = timezone.now() - timedelta(hours=settings.EDITOR_API_IDEMPOTENCY_HOURS)
    return IdempotentRequest.objects.filter(created_at__lt=expired).delete()[0]
