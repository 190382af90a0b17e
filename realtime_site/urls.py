from django.contrib import admin
from django.urls import include, path

from editor import accounts

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("", include("editor.urls")),
]
