from django.contrib import admin
from django.urls import include, path, re_path

from editor import accounts
from editor.api.endpoints import api, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("", include("editor.urls")),
]
