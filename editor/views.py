"""HTTP views: the editor page, its icon, liveness and readiness."""

import logging
import re
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from . import selectors
from .access import grants
from .live import worker
from .wire import names, protocol

logger = logging.getLogger(__name__)


OPENED_KEY = "editor.opened"  # the browser session's documents, last opened first


def document_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The editor for one document; the text itself arrives over the WebSocket (which checks the
    rights again, on every frame)."""
    access = grants.page_access(slug=slug, visitor=grants.Visitor.of_request(request))
    if not access.can_view:
        context = {"slug": slug, "reason": access.reason, "signed_in": request.user.is_authenticated}
        return render(request, "editor/forbidden.html", context, status=403)
    opened = [slug, *(s for s in request.session.get(OPENED_KEY, []) if s != slug)]
    request.session[OPENED_KEY] = opened[: selectors.HOME_ROWS]
    config = {
        "slug": slug,
        "socketPath": f"/ws/docs/{slug}/",
        # Where WebSockets are blocked (editor/fallback.py): tried again this often.
        "probePath": "/ws/probe/",
        "probeSeconds": settings.EDITOR_FALLBACK_PROBE_SECONDS,
        "maxDocumentChars": settings.EDITOR_MAX_DOCUMENT_CHARS,
        "maxFrameBytes": settings.EDITOR_MAX_FRAME_BYTES,
        "maxOpComponents": protocol.MAX_OP_COMPONENTS,
        "maxNameLength": names.MAX_NAME_LENGTH,  # in code points
        "maxVersionName": protocol.MAX_VERSION_NAME,
        "mostAuthorsReverted": protocol.MOST_AUTHORS_REVERTED,
        # Signed-in people appear under their user name and cannot rename.
        "user": request.user.get_username() if request.user.is_authenticated else None,
    }
    context = {
        "slug": slug,
        "editor_config": config,
        "can_manage": access.can_manage,
        # maxlength counts UTF-16 units: room for the longest name of astral characters.
        "name_max_units": 2 * names.MAX_NAME_LENGTH,
        "version_name_max_units": 2 * protocol.MAX_VERSION_NAME,
    }
    return render(request, "editor/document.html", context)


def documents_home(request: HttpRequest) -> HttpResponse:
    """/docs/: the documents you opened, own and were given, the public ones, a search, and a
    new document."""
    query = request.GET.get("q", "").strip()[:64]
    user_id = request.user.pk if request.user.is_authenticated else None
    lists = selectors.documents_home(
        user_id=user_id, opened_slugs=request.session.get(OPENED_KEY, []), query=query
    )
    return render(request, "editor/home.html", {"lists": lists, "query": query})


def new_document(request: HttpRequest) -> HttpResponse:
    """/docs/new/?name=N: the document N (made as it is first opened), or one with a new
    readable name when N is left out. A name that cannot be one goes back to the home."""
    name = request.GET.get("name", "").strip()
    if not name:
        name = "-".join(names.generated_name().lower().split()) + f"-{secrets.randbelow(10_000):04d}"
    if not re.fullmatch(protocol.SLUG_PATTERN, name):
        return redirect(f"{reverse('editor:documents')}?invalid=1")
    return redirect("editor:document", slug=name)


# A caret in the page's "live" green. Served from this origin, since the CSP refuses
# the data: URL the page used to name, and /favicon.ico is what every other page
# (the admin's) asks for: a 404 there is a console error in every tab.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect x="7" y="2" width="2" height="12" rx="1" fill="#2e8b57"/></svg>'
)


def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(FAVICON, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness, for tests and process supervisors: the process answers (and which one)."""
    return JsonResponse({"status": "ok", "worker": settings.WORKER_ID})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness, for compose and load balancers: 200 when this worker can serve a new connection
    (not shutting down; the database and the channel layer answer a round trip within
    EDITOR_READY_TIMEOUT_SECONDS), else 503 naming what is wrong."""
    checks = await worker.readiness(within=settings.EDITOR_READY_TIMEOUT_SECONDS)
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        logger.warning("not ready: %s", ", ".join(f"{name} {value}" for name, value in checks.items()))
    body = {"status": "ready" if ready else "not ready", "worker": settings.WORKER_ID, "checks": checks}
    response = JsonResponse(body, status=200 if ready else 503)
    # Said above, as a warning: not Django's "Service Unavailable" at ERROR, every few
    # seconds for as long as a health checker asks during an outage.
    response._has_been_logged = True
    return response
