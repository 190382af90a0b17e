from django.urls import path, re_path

from . import fallback, views
from .access.grants import DEFAULT_DOCUMENT
from .sharing import open_link, share_page

app_name = "editor"

urlpatterns = [
    path("", views.document_page, {"slug": DEFAULT_DOCUMENT}, name="home"),
    path("docs/", views.documents_home, name="documents"),
    path("docs/new/", views.new_document, name="new-document"),
    re_path(r"^d/(?P<slug>[A-Za-z0-9_-]{1,64})/$", views.document_page, name="document"),
    re_path(r"^d/(?P<slug>[A-Za-z0-9_-]{1,64})/share/$", share_page, name="share"),
    re_path(r"^links/(?P<token>[A-Za-z0-9_-]{1,64})/$", open_link, name="link"),
    re_path(r"^fallback/docs/(?P<slug>[A-Za-z0-9_-]{1,64})/$", fallback.open_session, name="fallback-open"),
    path("fallback/sessions/<str:token>/events", fallback.events, name="fallback-events"),
    path("fallback/sessions/<str:token>/poll", fallback.poll, name="fallback-poll"),
    path("fallback/sessions/<str:token>/frames", fallback.frames, name="fallback-frames"),
    path("fallback/sessions/<str:token>/", fallback.close_session, name="fallback-close"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
]
