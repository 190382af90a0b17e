from django.urls import path, re_path

from . import views

app_name = "editor"

urlpatterns = [
    path("", views.document_page, {"slug": views.DEFAULT_DOCUMENT}, name="home"),
    re_path(r"^d/(?P<slug>[A-Za-z0-9_-]{1,64})/$", views.document_page, name="document"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
]
