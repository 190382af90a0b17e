from django.contrib import admin
from django.urls import include, path

from editor import accounts
from editor.api.endpoints import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("", include("editor.urls")),
]
