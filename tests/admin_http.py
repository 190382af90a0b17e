"""A signed-in admin over plain HTTP, for driving a real worker's admin from a test."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User

OPERATOR_PASSWORD = "a long enough password"


def create_operator(username: str = "operator") -> User:
    """A superuser who signs in through a server process: hashed as its production settings hash."""
    password = make_password(OPERATOR_PASSWORD, hasher="pbkdf2_sha256")
    return User.objects.create(username=username, password=password, is_staff=True, is_superuser=True)


class AdminBrowser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, data: dict) -> str:
        """POST a form the way a browser does: with the CSRF token and a same-origin Referer."""
        token = next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **data}, doseq=True).encode()
        request = urllib.request.Request(
            self.base_url + path, data=body, headers={"Referer": self.base_url + path}
        )
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()

    def log_in(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        page = self.post("/admin/login/?next=/admin/", {"username": username, "password": password})
        if "Log out" not in page and "logout" not in page:
            raise AssertionError("admin login failed")

    @staticmethod
    def object_ids(changelist: str) -> list[str]:
        return re.findall(r'name="_selected_action" value="(\d+)"', changelist)
