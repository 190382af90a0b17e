"""ASGI entry point: HTTP goes to Django, WebSockets to the editor's consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_site.settings")
# Build the Django app first: it sets Django up, which importing the routing
# (and through it the models) requires.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from editor.handshakes import HandshakeGuard, OutageGuard  # noqa: E402
from editor.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Path, Host and exact Origin are checked before anything else runs; a session that
        # cannot be read while the database is away is answered 1013 (editor/handshakes.py).
        "websocket": HandshakeGuard(OutageGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
