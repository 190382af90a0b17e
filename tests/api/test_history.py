"""The history endpoints of /api/v1/ (editor/api/history.py) with the real committer and
database: ?rev=, authorship, diff, restore, revert, named versions, and their refusals."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from editor.models import Document, Milestone, Version
from editor.store import documents
from tests.documents import anew_document, aread_document

from .client import Api, amake_token, amake_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def bob():
    return await amake_user("bob")


@pytest.fixture
async def bob_writes(bob) -> Api:
    return Api(await amake_token(bob, "write"))


async def typed(api: Api, slug: str, *texts: str) -> list[int]:
    revisions = []
    for text in texts:
        response = await api.post(f"/documents/{slug}/append", {"text": text})
        assert response.status_code == 200, response.content
        revisions.append(response.json()["rev"])
    return revisions


async def test_an_old_revision_reads_like_the_head_with_its_own_etag(writer):
    await anew_document("doc")
    await typed(writer, "doc", "one", " two", " three")
    response = await writer.get("/documents/doc", rev=2)
    assert response.status_code == 200, response.content
    assert response.json() == {"slug": "doc", "rev": 2, "text": "one two", "length": 7}
    assert response["ETag"] == '"2"'
    assert (await writer.get("/documents/doc", {"If-None-Match": '"2"'}, rev=2)).status_code == 304
    assert (await writer.get("/documents/doc", rev=0)).json()["text"] == ""
    assert (await writer.get("/documents/doc", rev=3)).json()["text"] == "one two three"


async def test_revisions_outside_the_history_are_refused_with_where_it_starts(writer):
    await anew_document("doc", "old text", rev=7)
    await typed(writer, "doc", "!")
    future = await writer.get("/documents/doc", rev=9)
    assert (future.status_code, future.json()["code"]) == (409, "future-revision")
    forgotten = await writer.get("/documents/doc", rev=6)
    assert (forgotten.status_code, forgotten.json()["code"]) == (410, "history-forgotten")
    assert forgotten.json()["start"] == 7
    assert (await writer.get("/documents/doc", rev=7)).json()["text"] == "old text"
    too_big = await writer.get("/documents/doc", rev=2**53 + 1)
    assert too_big.status_code == 422


async def test_authorship_gives_each_authors_characters_and_their_colour(writer, bob_writes, alice, bob):
    await anew_document("doc", "base ")
    await typed(writer, "doc", "alice ")
    await typed(bob_writes, "doc", "bob")
    response = await writer.get("/documents/doc/authorship")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rev"] == 2
    key_a, key_b = f"user:{alice.pk}", f"user:{bob.pk}"
    assert body["spans"] == [
        {"length": 5, "author": None},
        {"length": 6, "author": key_a},
        {"length": 3, "author": key_b},
    ]
    assert body["authors"][key_a]["name"] == "alice"
    assert body["authors"][key_b]["signed_in"] is True
    assert body["authors"][key_a]["color"] != body["authors"][key_b]["color"]
    earlier = (await writer.get("/documents/doc/authorship", rev=1)).json()
    assert earlier["spans"] == [{"length": 5, "author": None}, {"length": 6, "author": key_a}]


async def test_a_diff_between_far_revisions_says_who_inserted_and_deleted_what(writer, bob_writes, bob):
    await anew_document("doc", "keep this, drop that")
    await typed(writer, "doc", " tmp")
    await bob_writes.put("/documents/doc/text", {"text": "keep this tmp, and more"}, {"If-Match": '"1"'})
    response = await writer.get("/documents/doc/diff", **{"from": 0, "to": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"]) == (0, 2)
    old = "".join(p["text"] for p in body["changes"] if p["kind"] != "insert")
    new = "".join(p["text"] for p in body["changes"] if p["kind"] != "delete")
    assert (old, new) == ("keep this, drop that", "keep this tmp, and more")
    deleted = [p for p in body["changes"] if p["kind"] == "delete"]
    assert {p["author"] for p in deleted} == {f"user:{bob.pk}"}
    inserted = {
        p["text"]: body["authors"][p["author"]]["name"] for p in body["changes"] if p["kind"] == "insert"
    }
    assert "bob" in inserted.values()
    # "to" defaults to the head; from after to is refused.
    assert (await writer.get("/documents/doc/diff", **{"from": 1})).json()["to"] == 2
    backwards = await writer.get("/documents/doc/diff", **{"from": 2, "to": 1})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid-request")


async def test_restore_makes_a_new_edit_with_the_old_text_and_is_undone_by_restoring_again(writer, alice):
    await anew_document("doc")
    await typed(writer, "doc", "draft one", " / draft two")
    response = await writer.post("/documents/doc/restore", {"rev": 1})
    assert response.status_code == 200, response.content
    assert response.json()["rev"] == 3
    assert await aread_document("doc") == (3, "draft one")
    again = await writer.post("/documents/doc/restore", {"rev": 2})
    assert again.json()["rev"] == 4
    assert await aread_document("doc") == (4, "draft one / draft two")
    # Restoring what is already there is no edit.
    same = await writer.post("/documents/doc/restore", {"rev": 4})
    assert same.json() == {"rev": 4, "id": ""}
    assert await aread_document("doc") == (4, "draft one / draft two")


async def test_revert_takes_back_one_authors_edits_and_keeps_the_others(writer, bob_writes, bob):
    await anew_document("doc", "[")
    await typed(writer, "doc", "a1 ")
    await typed(bob_writes, "doc", "b1 ")
    await typed(writer, "doc", "a2 ")
    await typed(bob_writes, "doc", "b2")
    response = await writer.post("/documents/doc/revert", {"author": f"user:{bob.pk}"})
    assert response.status_code == 200, response.content
    assert await aread_document("doc") == (5, "[a1 a2 ")
    nobody = await writer.post("/documents/doc/revert", {"author": "session:nobody"})
    assert nobody.json() == {"rev": 5, "id": ""}


async def test_history_needs_the_rights_the_text_needs_and_changes_need_edit_rights(writer, alice):
    response = await writer.post("/documents/", {"slug": "secret", "text": "mine", "visibility": "private"})
    assert response.status_code == 201
    stranger = Api(await amake_token(await amake_user("mallory"), "write"))
    for path in ("/documents/secret/authorship", "/documents/secret/versions"):
        assert (await stranger.get(path)).status_code == 404
    assert (await stranger.get("/documents/secret", rev=1)).status_code == 404
    assert (await stranger.get("/documents/secret/diff", **{"from": 0})).status_code == 404
    for path, body in [
        ("/documents/secret/restore", {"rev": 0}),
        ("/documents/secret/revert", {"author": f"user:{alice.pk}"}),
        ("/documents/secret/versions", {"name": "mine now"}),
    ]:
        refused = await stranger.post(path, body)
        assert refused.status_code == 404, (path, refused.content)
    reader = Api(await amake_token(alice, "read"))
    refused = await reader.post("/documents/secret/restore", {"rev": 0})
    assert refused.status_code == 403
    assert await aread_document("secret") == (1, "mine")


async def test_named_versions_are_listed_in_revision_order(writer):
    await anew_document("doc")
    await typed(writer, "doc", "a", "b")
    first = await writer.post("/documents/doc/versions", {"name": "Sent to the printer"})
    assert first.status_code == 201, first.content
    assert (first.json()["rev"], first.json()["by"]) == (2, "alice")
    older = await writer.post("/documents/doc/versions", {"name": "Outline", "rev": 1})
    assert older.status_code == 201
    listed = (await writer.get("/documents/doc/versions")).json()["versions"]
    assert [(v["rev"], v["name"]) for v in listed] == [(1, "Outline"), (2, "Sent to the printer")]
    for body in ({"name": ""}, {"name": "x" * 81}, {"name": "tab\there"}, {"name": "ok", "rev": 3}):
        refused = await writer.post("/documents/doc/versions", body)
        assert refused.status_code in (409, 422), (body, refused.content)
    assert await Version.objects.acount() == 2
    assert (await writer.post("/documents/doc/versions", {"name": "x" * 80})).status_code == 201


async def test_a_document_keeps_at_most_the_limit_of_named_versions(writer, settings):
    settings.EDITOR_MAX_VERSIONS = 2
    await anew_document("doc")
    for name in ("one", "two"):
        assert (await writer.post("/documents/doc/versions", {"name": name})).status_code == 201
    refused = await writer.post("/documents/doc/versions", {"name": "three"})
    assert (refused.status_code, refused.json()["code"]) == (409, "too-many-versions")
    assert await Version.objects.acount() == 2


async def test_a_restore_reaches_a_document_with_milestones_far_behind(writer, settings):
    settings.EDITOR_HISTORY_MILESTONE_EVERY = 3
    await anew_document("doc")
    revisions = await typed(writer, "doc", *[str(n % 10) for n in range(10)])
    assert revisions[-1] == 10
    await sync_to_async(documents.store_text)(slug="doc")
    document = await Document.objects.aget(slug="doc")
    assert [m async for m in Milestone.objects.filter(document=document).values_list("rev", flat=True)] == [
        0,
        3,
        6,
        9,
    ]
    assert (await writer.get("/documents/doc", rev=5)).json()["text"] == "01234"
    await writer.post("/documents/doc/restore", {"rev": 5})
    assert await aread_document("doc") == (11, "01234")
