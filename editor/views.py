"""HTTP views: the editor page and a health check."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

DEFAULT_DOCUMENT = "default"


def document_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The editor for one document; the text itself arrives over the WebSocket."""
    config = {
        "slug": slug,
        "socketPath": f"/ws/docs/{slug}/",
        "maxDocumentChars": settings.EDITOR_MAX_DOCUMENT_CHARS,
        "maxFrameBytes": settings.EDITOR_MAX_FRAME_BYTES,
        # Signed-in people appear under their user name and cannot rename.
        "user": request.user.get_username() if request.user.is_authenticated else None,
    }
    return render(request, "editor/document.html", {"slug": slug, "editor_config": config})


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and tests: which worker answered."""
    return JsonResponse({"status": "ok", "worker": settings.WORKER_ID})
