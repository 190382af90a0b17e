"""The fallback transport's HTTP face: the protocol's frames where WebSockets are blocked.

``POST /fallback/docs/<slug>/`` opens a session: the document's WebSocket application
(routing.py: the same handshake guards, consumer, limits and rights) runs on a socket
emulated by this worker (live/fallback.py). The answer names the session by a signed
token, which says which worker holds it; every later request may reach any worker:

- ``GET /fallback/sessions/<token>/events``: Server-Sent Events, one per frame, ``id``
  its number; a reconnect's ``Last-Event-ID`` resumes after it.
- ``GET /fallback/sessions/<token>/poll?after=N``: long polling, for proxies that
  buffer streams: the events after N, as soon as there is one or after
  EDITOR_FALLBACK_POLL_SECONDS.
- ``POST /fallback/sessions/<token>/frames``: ``{"seq", "frames", "ack"}``, the client's
  frames in order.
- ``DELETE /fallback/sessions/<token>/``: the client closes.

A request that reaches a worker other than the session's is relayed to it through
the channel layer (``Hub.call``). docs/protocol.md has the rules; refusals are
problem+json (api/problems.py), as the HTTP API's.

The opening request is guarded as a handshake is, by its Origin (editor/handshakes.py),
so it needs no CSRF token; the others are authorised by the token, which a page of
another origin cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .api.problems import ApiError, problem_response
from .live import worker
from .live.hub import HubStopped, layer_unavailable
from .routing import websocket_application
from .wire import protocol

logger = logging.getLogger(__name__)

TOKEN_SALT = "editor.fallback.session"
# A token alone is not enough: it only works with the cookie of the browser that opened the
# session (so one read from an access log, where URL paths end up, is of no use).
BROWSER_COOKIE = "editor_fallback"
BROWSER_KEY = re.compile(r"[A-Za-z0-9_-]{32}")
# How long a relayed request may take beyond its own wait before the session's worker is taken
# for gone (its hub answers within milliseconds when it runs).
RELAY_SLACK_SECONDS = 2.0
# A keepalive event this often keeps an idle stream open through proxies that cut silent ones.
KEEPALIVE_SECONDS = 15.0
# Events in one answer; a client further behind reads the rest in the next.
EVENTS_PER_ANSWER = 500
# The first line of every stream: reconnect after a second, and an event the client waits
# for to tell a stream that arrives from one a proxy holds back (docs/protocol.md).
STREAM_OPENING = "retry: 1000\nevent: ready\ndata: {}\n\n"

GONE = ApiError(
    410, "session-gone", "no such fallback session (closed, expired, or its worker restarted); open another"
)
# What the session's worker answers (FallbackSessions.answer), or this one finds, as refusals.
ERRORS = {
    "gone": GONE,
    "behind": ApiError(
        410, "events-gone", "the events after that one are no longer kept; open another session"
    ),
    "busy": ApiError(
        429,
        "busy",
        "the frames already sent are still being handled, or this session has requests waiting already",
        headers={"Retry-After": "1"},
    ),
    "bad-token": ApiError(400, "bad-token", "that is not a fallback session's token"),
    "not-yours": ApiError(
        403, "not-your-session", "this session was opened by another browser (its cookie is missing)"
    ),
}


def _refusals_answered(view):
    """The views raise their refusals (ApiError); here they become problem details."""

    @functools.wraps(view)
    async def answering(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except ApiError as error:
            return problem_response(error)

    return answering


def browser_binding(browser_key: str) -> str:
    """What a token holds of the browser that opened it: a digest of its fallback cookie."""
    return hashlib.sha256(browser_key.encode()).hexdigest()[:32]


def session_token(hub_channel: str, key: str, browser_key: str) -> str:
    return signing.dumps([hub_channel, key, browser_binding(browser_key)], salt=TOKEN_SALT, compress=False)


def read_session_token(token: str) -> tuple[str, str, str] | None:
    """The (hub channel, session key, browser binding) a token names, or None if it is not
    one of ours."""
    try:
        named = signing.loads(token, salt=TOKEN_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(named, list) or len(named) != 3 or not all(isinstance(part, str) for part in named):
        return None
    return named[0], named[1], named[2]


def _browser_key(request: HttpRequest) -> str | None:
    key = request.COOKIES.get(BROWSER_COOKIE, "")
    return key if BROWSER_KEY.fullmatch(key) else None


def websocket_scope(request: HttpRequest, slug: str) -> dict:
    """The scope a WebSocket handshake from this request's client would have: its headers
    (Host, Origin, cookies, forwarded addresses), peer, scheme and query (?rev=, ?pending=)."""
    http = request.scope
    path = f"/ws/docs/{slug}/"
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": http.get("http_version", "1.1"),
        "scheme": "wss" if http.get("scheme") == "https" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": http.get("query_string", b""),
        "headers": list(http.get("headers", [])),
        "client": http.get("client"),
        "server": http.get("server"),
        "subprotocols": [],
        "extensions": {},
    }


async def _live_worker(*, opening: bool = False) -> worker.Worker:
    """This worker's live parts. While it shuts down it opens no session (503), but still
    serves and relays requests about existing ones."""
    try:
        return await worker.current()
    except worker.Draining:
        if not opening and (draining := worker.existing()) is not None:
            return draining
        raise ApiError(503, "restarting", "this worker is restarting", headers={"Retry-After": "1"}) from None


async def _ask(
    live: worker.Worker, request: HttpRequest, token: str, asked: dict, *, wait: float = 0.0
) -> dict:
    """Ask the session's worker (this one, or another through the channel layer); its refusals,
    and a worker that does not answer, are raised (ApiError)."""
    target = read_session_token(token)
    if target is None:
        raise ERRORS["bad-token"]
    hub_channel, key, binding = target
    if not hmac.compare_digest(browser_binding(_browser_key(request) or ""), binding):
        raise ERRORS["not-yours"]
    try:
        answer = await live.hub.call(
            hub_channel, {**asked, "session": key}, within=wait + RELAY_SLACK_SECONDS
        )
    except (TimeoutError, HubStopped):
        raise GONE from None
    except Exception as error:
        if not layer_unavailable(error):
            raise
        logger.warning("fallback session unreachable: %s", error)
        raise GONE from None
    code = answer.get("error")
    if code == "out-of-order":
        expected = answer["expected"]
        detail = f"frames are numbered; the next expected is {expected}"
        raise ApiError(409, "out-of-order", detail, extra={"expected": expected})
    if code is not None:
        raise ERRORS[code]
    return answer


def _event_count(value) -> bool:
    """A JSON number usable as a frame or event number: a whole number from 0 within what
    JSON and JavaScript count exactly (the bound revisions have)."""
    return type(value) is int and 0 <= value < protocol.MAX_REVISION


def _event_number(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


@csrf_exempt
@require_http_methods(["POST"])
@_refusals_answered
async def open_session(request: HttpRequest, slug: str) -> HttpResponse:
    """Open a fallback session on this worker: 201 with its token, or 403 if the handshake
    guards refused it (Origin or Host). Anything the consumer says after that, including
    a refusal (4403, 1008), is the session's first events."""
    live = await _live_worker(opening=True)
    key, session = await live.fallback.open(websocket_application, websocket_scope(request, slug))
    if not session.accepted.result():
        raise ApiError(403, "handshake-refused", "refused as a WebSocket handshake would be (Origin or Host)")
    browser_key = _browser_key(request) or secrets.token_urlsafe(24)
    token = session_token(live.hub.channel_name, key, browser_key)
    base = f"/fallback/sessions/{token}/"
    body = {"session": token, "events": f"{base}events", "poll": f"{base}poll", "frames": f"{base}frames"}
    response = JsonResponse(body, status=201)
    response.set_cookie(
        BROWSER_COOKIE,
        browser_key,
        path="/fallback/",
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


@require_http_methods(["GET"])
@_refusals_answered
async def events(request: HttpRequest, token: str) -> HttpResponse:
    """The session's events as Server-Sent Events, from after ``Last-Event-ID`` (or ``?after=``)."""
    after = _event_number(request.headers.get("Last-Event-ID") or request.GET.get("after", "0"))
    if after is None:
        raise ApiError(400, "bad-request", "Last-Event-ID (or after) must be an event number")
    live = await _live_worker()
    first = await _ask(
        live,
        request,
        token,
        {"do": "pull", "after": after, "ack": after, "wait": 0, "most": EVENTS_PER_ANSWER},
    )
    response = StreamingHttpResponse(
        _stream(live, request, token, after, first["events"]), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on as it comes
    return response


async def _stream(live: worker.Worker, request: HttpRequest, token: str, after: int, events: list[dict]):
    yield STREAM_OPENING
    while True:
        for event in events:
            after = event["id"]
            if "close" in event:
                yield f"id: {after}\nevent: close\ndata: {json.dumps(event['close'])}\n\n"
                await _until_disconnected(live)
                return
            yield f"id: {after}\ndata: {event['frame']}\n\n"
        pull = {"do": "pull", "after": after, "wait": KEEPALIVE_SECONDS, "most": EVENTS_PER_ANSWER}
        try:
            events = (await _ask(live, request, token, pull, wait=KEEPALIVE_SECONDS))["events"]
        except ApiError as error:
            # Said at once, rather than left to the browser's reconnect and its 410.
            yield f"event: gone\ndata: {json.dumps({'code': error.code})}\n\n"
            await _until_disconnected(live)
            return
        if not events:
            # An event, not a comment: a page that sees none for a while knows the stream is
            # being held back (by a proxy that passed its first bytes) and polls instead.
            yield "event: keepalive\ndata: {}\n\n"


async def _until_disconnected(live: worker.Worker) -> None:
    """After the last event, the client closes the stream: the response ends then (Django
    cancels it), not at the same moment, when Django 5.2's handler can leave its disconnect
    listener's RequestAborted unretrieved (an ERROR in the log). Bounded: a client that stays
    is let go, and so is every stream when the worker stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(KEEPALIVE_SECONDS):
            await live.fallback.stopping.wait()


@require_http_methods(["GET"])
@_refusals_answered
async def poll(request: HttpRequest, token: str) -> HttpResponse:
    """The events after ``?after=N`` (those up to N are forgotten), as soon as there is one."""
    after = _event_number(request.GET.get("after"))
    if after is None:
        raise ApiError(400, "bad-request", "after must be an event number")
    live = await _live_worker()
    wait = settings.EDITOR_FALLBACK_POLL_SECONDS
    answer = await _ask(
        live,
        request,
        token,
        {"do": "pull", "after": after, "ack": after, "wait": wait, "most": EVENTS_PER_ANSWER},
        wait=wait,
    )
    response = JsonResponse({"events": answer["events"]})
    response["Cache-Control"] = "no-store"
    return response


def _frames_body(request: HttpRequest) -> tuple[int, list[str], int | None]:
    """``{"seq": n, "frames": ["...", ...], "ack": m}`` (ack optional); raises the refusal."""
    most = settings.EDITOR_INBOUND_QUEUE_FRAMES
    if len(request.body) > settings.EDITOR_FALLBACK_MAX_BODY_BYTES:
        raise ApiError(413, "too-large", f"at most {settings.EDITOR_FALLBACK_MAX_BODY_BYTES} bytes a request")
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        body = None
    bad = ApiError(
        400,
        "bad-request",
        'the body must be {"seq": n, "frames": ["<frame>", ...]} with an optional "ack": m',
    )
    if not isinstance(body, dict) or set(body) - {"seq", "frames", "ack"}:
        raise bad
    seq, frames, ack = body.get("seq"), body.get("frames"), body.get("ack")
    if not _event_count(seq) or not (ack is None or _event_count(ack)):
        raise bad
    if not isinstance(frames, list) or not frames or not all(isinstance(frame, str) for frame in frames):
        raise bad
    try:
        for frame in frames:
            frame.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no frame's text holds one
        raise ApiError(400, "bad-request", "frames must be valid Unicode text") from None
    if len(frames) > most:
        raise ApiError(413, "too-large", f"at most {most} frames a request")
    return seq, frames, ack


@csrf_exempt
@require_http_methods(["POST"])
@_refusals_answered
async def frames(request: HttpRequest, token: str) -> HttpResponse:
    """The client's frames, numbered from 0 across the session; answers the next number."""
    seq, sent, ack = _frames_body(request)
    live = await _live_worker()
    answer = await _ask(
        live,
        request,
        token,
        {"do": "push", "seq": seq, "frames": sent, "ack": ack},
        wait=settings.EDITOR_FALLBACK_WAIT_SECONDS,
    )
    return JsonResponse({"next": answer["next"]})


@csrf_exempt
@require_http_methods(["DELETE"])
@_refusals_answered
async def close_session(request: HttpRequest, token: str) -> HttpResponse:
    """The client closes the session (as a WebSocket's close with 1000); one already gone is
    closed too."""
    live = await _live_worker()
    try:
        await _ask(live, request, token, {"do": "close"})
    except ApiError as error:
        if error is not GONE:
            raise
    return HttpResponse(status=204)
