"""Calling the HTTP API in-process (Django's AsyncClient, on the test's event loop, so edits go
through the test's worker exactly as a Daphne worker's requests do)."""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from editor.api import tokens

BASE = "/api/v1"


class Api:
    """Requests with a token (or none), JSON bodies, and the answer's JSON."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.client = AsyncClient(headers={"Host": "localhost"})

    def headers(self, extra: dict | None) -> dict:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**headers, **(extra or {})}

    async def get(self, path: str, headers: dict | None = None, **query):
        return await self.client.get(BASE + path, query, headers=self.headers(headers))

    async def send(
        self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None
    ):
        data = raw if raw is not None else json.dumps(body)
        call = getattr(self.client, method.lower())
        return await call(BASE + path, data, content_type="application/json", headers=self.headers(headers))

    async def post(self, path: str, body=None, headers: dict | None = None):
        return await self.send("POST", path, body, headers)

    async def put(self, path: str, body=None, headers: dict | None = None):
        return await self.send("PUT", path, body, headers)


def make_user(username: str, **fields):
    return get_user_model().objects.create_user(username, password="pw-for-tests", **fields)


def make_token(user, scope: str = "write", **fields) -> str:
    _, secret = tokens.create_token(user=user, scope=scope, **fields)
    return secret


amake_user = sync_to_async(make_user)
amake_token = sync_to_async(make_token)
