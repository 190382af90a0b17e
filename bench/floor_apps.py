"""The least a Daphne worker holds per idle WebSocket, layer by layer: ASGI apps that accept
a socket and keep it open doing nothing, for bench/floor.py.

- ``bare``: an ASGI callable, no Channels: what Daphne, autobahn and Twisted hold;
- ``consumer``: a Channels ``AsyncWebsocketConsumer`` with no channel layer;
- ``authenticated``: that consumer behind Channels' ``AuthMiddlewareStack`` (cookies,
  session, user), as the editor's is.
"""

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="bench-floor-not-secret",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ALLOWED_HOSTS=["*"],
)
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402


async def bare(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


class Idle(AsyncWebsocketConsumer):
    """Accepts, and ignores what it is sent."""


consumer = Idle.as_asgi()
authenticated = AuthMiddlewareStack(Idle.as_asgi())
