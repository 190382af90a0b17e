"""Where WebSocket handshakes go, behind the guards every handshake passes (editor/handshakes.py).

``websocket_application`` is what realtime_site/asgi.py serves for WebSockets and what a
fallback session (editor/fallback.py) runs on its emulated socket: one path for both.
"""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import re_path

from . import consumers
from .handshakes import HandshakeGuard, OutageGuard

websocket_urlpatterns = [
    re_path(r"^ws/docs/(?P<slug>[A-Za-z0-9_-]{1,64})/$", consumers.DocumentConsumer.as_asgi()),
    re_path(r"^ws/probe/$", consumers.ProbeConsumer.as_asgi()),
    re_path(r"^ws/", consumers.UnknownEndpointConsumer.as_asgi()),
]

# Path, Host and exact Origin are checked before anything else runs; a session that cannot be
# read while the database is away is answered 1013 (editor/handshakes.py).
websocket_application = HandshakeGuard(OutageGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))))
