"""API tokens: made and shown once, found by their hash, revoked; each acts as its user."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from editor.models import ApiToken

PREFIX = "rte_"  # tells a leaked token apart in logs and secret scanners
TOKEN_BYTES = 32
# A token's last use is written at most this often: not a database write per request.
LAST_USED_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, user, scope: str = ApiToken.READ, name: str = "", expires_at: datetime | None = None):
    """A new token and its secret, which is not stored and can be shown only now."""
    if scope not in (ApiToken.READ, ApiToken.WRITE):
        raise ValueError(f"scope is read or write, not {scope!r}")
    token = ApiToken(user=user, scope=scope, name=name, expires_at=expires_at)
    secret = give_secret(token)
    token.save()
    return token, secret


def give_secret(token: ApiToken) -> str:
    """A new secret for an unsaved token (the admin's add form, ``create_token``): its hash and
    first characters are kept, the secret itself returned to be shown once."""
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token.token_hash, token.hint = hash_token(secret), secret[: len(PREFIX) + 6]
    return secret


def usable_token(secret: str) -> ApiToken | None:
    """The token with this secret if it may be used now: not revoked, not expired, its user active."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(secret), revoked_at=None, user__is_active=True)
        .filter(Q(expires_at=None) | Q(expires_at__gt=now))
        .first()
    )
    if token is not None and (token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
