from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"^ws/docs/(?P<slug>[A-Za-z0-9_-]{1,64})/$", consumers.DocumentConsumer.as_asgi()),
    re_path(r"^ws/", consumers.UnknownEndpointConsumer.as_asgi()),
]
