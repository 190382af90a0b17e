"""Who may do what over HTTP: tokens (scope, expiry, revocation), the access rules, anonymous
callers, and the command and admin that make tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone

from editor.access import grants
from editor.access.rules import Role
from editor.api import tokens
from editor.models import ApiToken, Document
from tests.documents import aread_document

from .client import Api, amake_token, amake_user

pytestmark = pytest.mark.django_db(transaction=True)


async def make_document(slug: str, visibility: str, owner=None, text: str = "text") -> Document:
    return await sync_to_async(Document.objects.create)(
        slug=slug, visibility=visibility, owner=owner, text=text, length=len(text)
    )


@pytest.fixture
async def owner():
    return await amake_user("owner")


async def test_a_token_is_stored_hashed_and_found_by_its_secret(owner):
    token, secret = await sync_to_async(tokens.create_token)(user=owner, scope="write")
    assert secret.startswith("rte_")
    assert token.token_hash == tokens.hash_token(secret)
    assert secret not in {token.token_hash, token.hint}
    assert (await sync_to_async(tokens.usable_token)(secret)).pk == token.pk
    assert await sync_to_async(tokens.usable_token)(secret + "x") is None


@pytest.mark.parametrize(
    "header", ["Bearer rte_not-a-token", "Bearer ", "Basic dXNlcjpwdw==", "Token abc", "Bearer nope"]
)
async def test_a_bad_authorization_header_is_refused_not_taken_as_anonymous(owner, header):
    await make_document("pub", "public", owner)
    response = await Api().get("/documents/pub", {"Authorization": header})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthorized"


async def test_an_expired_or_revoked_token_is_refused(owner):
    await make_document("pub", "public", owner)
    expired = await amake_token(owner, "read", expires_at=timezone.now() - timedelta(seconds=1))
    assert (await Api(expired).get("/documents/pub")).status_code == 401
    later = await amake_token(owner, "read", expires_at=timezone.now() + timedelta(hours=1))
    assert (await Api(later).get("/documents/pub")).status_code == 200
    token = await ApiToken.objects.aget(token_hash=tokens.hash_token(later))
    await sync_to_async(tokens.revoke_token)(token)
    assert (await Api(later).get("/documents/pub")).status_code == 401


async def test_a_deactivated_users_token_is_refused(owner):
    await make_document("pub", "public", owner)
    secret = await amake_token(owner, "read")
    owner.is_active = False
    await owner.asave()
    assert (await Api(secret).get("/documents/pub")).status_code == 401


async def test_a_read_token_reads_but_may_not_write(owner):
    await make_document("mine", "private", owner)
    reader = Api(await amake_token(owner, "read"))
    assert (await reader.get("/documents/mine")).status_code == 200
    response = await reader.post("/documents/mine/append", {"text": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient-scope"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert (await reader.post("/documents/", {"slug": "new"})).status_code == 403
    assert await aread_document("mine") == (0, "text")


async def test_anonymous_callers_read_public_and_view_only_documents_and_write_nothing(owner):
    await make_document("pub", "public", owner)
    await make_document("view", "view-only", owner)
    await make_document("secret", "private", owner)
    anonymous = Api()
    assert (await anonymous.get("/documents/pub")).status_code == 200
    assert (await anonymous.get("/documents/view")).status_code == 200
    assert (await anonymous.get("/documents/secret")).status_code == 404
    response = await anonymous.post("/documents/pub/append", {"text": "x"})
    assert response.status_code == 401
    assert await aread_document("pub") == (0, "text")


async def test_a_private_document_is_the_same_404_as_one_that_does_not_exist(owner):
    await make_document("secret", "private", owner)
    stranger = Api(await amake_token(await amake_user("stranger"), "write"))
    hidden = await stranger.get("/documents/secret")
    missing = await stranger.get("/documents/missing")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("secret", "X") == missing.json()["detail"].replace("missing", "X")
    for path in ("/operations", "/people"):
        assert (await stranger.get(f"/documents/secret{path}")).status_code == 404
    assert (await stranger.post("/documents/secret/append", {"text": "x"})).status_code == 404
    assert await aread_document("secret") == (0, "text")


async def test_a_token_acts_with_its_users_rights_shares_included(owner):
    document = await make_document("doc", "private", owner)
    viewer, editor = await amake_user("viewer"), await amake_user("editor")
    await sync_to_async(grants.share)(document=document, user=viewer, role=Role.VIEWER)
    await sync_to_async(grants.share)(document=document, user=editor, role=Role.EDITOR)
    as_viewer, as_editor = Api(await amake_token(viewer)), Api(await amake_token(editor))
    assert (await as_viewer.get("/documents/doc")).status_code == 200
    refused = await as_viewer.post("/documents/doc/append", {"text": "v"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert (await as_editor.post("/documents/doc/append", {"text": "e"})).status_code == 200
    await sync_to_async(grants.unshare)(document=document, user_id=editor.pk)
    assert (await as_editor.post("/documents/doc/append", {"text": "e"})).status_code == 404
    assert await aread_document("doc") == (1, "texte")


async def test_a_locked_document_refuses_edits_even_its_owners(owner):
    await make_document("doc", "public", owner)
    await Document.objects.filter(slug="doc").aupdate(read_only=True)
    response = await Api(await amake_token(owner)).post("/documents/doc/append", {"text": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "read-only"


async def test_creating_a_document_whose_name_is_taken_is_a_conflict(owner):
    await make_document("doc", "private", owner)
    response = await Api(await amake_token(await amake_user("other"))).post("/documents/", {"slug": "doc"})
    assert response.status_code == 409
    assert response.json()["code"] == "document-exists"


def test_the_command_prints_a_token_that_works(django_user_model, capsys):
    user = django_user_model.objects.create_user("cli")
    call_command("create_api_token", "cli", "--scope", "write", "--name", "ci")
    secret = capsys.readouterr().out.strip()
    token = tokens.usable_token(secret)
    assert (token.user, token.scope, token.name, token.expires_at) == (user, "write", "ci", None)
    call_command("create_api_token", "cli", "--expires-in-days", "2")
    token = tokens.usable_token(capsys.readouterr().out.strip())
    assert token.scope == "read"
    assert timedelta(days=1, hours=23) < token.expires_at - timezone.now() <= timedelta(days=2)
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("create_api_token", "nobody")


def test_the_admin_shows_a_new_tokens_secret_once_and_revokes(admin_client, admin_user):
    response = admin_client.post(
        "/admin/editor/apitoken/add/",
        {"user": admin_user.pk, "name": "bot", "scope": "write", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    [message] = [str(m) for m in response.context["messages"] if "shown this once" in str(m)]
    secret = message.rsplit(" ", 1)[1]
    token = tokens.usable_token(secret)
    assert token is not None
    assert token.name == "bot"
    listing = admin_client.get("/admin/editor/apitoken/").content.decode()
    assert secret not in listing
    assert token.hint in listing
    admin_client.post("/admin/editor/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert tokens.usable_token(secret) is None
