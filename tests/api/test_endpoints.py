"""Each endpoint of /api/v1/ on its own: what it answers, and every refusal, with the real
committer and database."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from editor.models import Document, EditingSession, Operation
from tests.documents import anew_document, aread_document

from .client import Api, amake_user

pytestmark = pytest.mark.django_db(transaction=True)


async def test_create_then_read_a_document(writer, alice):
    response = await writer.post("/documents/", {"slug": "notes", "text": "hello", "visibility": "private"})
    assert response.status_code == 201, response.content
    assert response["Location"] == "/api/v1/documents/notes"
    assert response.json() == {"slug": "notes", "rev": 1, "text": "hello", "length": 5}
    document = await Document.objects.aget(slug="notes")
    assert (document.owner_id, document.visibility) == (alice.pk, "private")
    response = await writer.get("/documents/notes")
    assert response.status_code == 200
    assert response.json() == {"slug": "notes", "rev": 1, "text": "hello", "length": 5}
    assert response["ETag"] == '"1"'


async def test_read_answers_304_to_its_etag_and_200_once_it_changed(writer):
    await writer.post("/documents/", {"slug": "notes", "text": "a"})
    assert (await writer.get("/documents/notes", {"If-None-Match": '"1"'})).status_code == 304
    await writer.post("/documents/notes/append", {"text": "b"})
    response = await writer.get("/documents/notes", {"If-None-Match": '"1"'})
    assert response.status_code == 200
    assert response.json()["text"] == "ab"


async def test_append_lands_at_the_end_and_is_authored_by_the_tokens_user(writer, alice):
    await anew_document("doc", "one")
    response = await writer.post("/documents/doc/append", {"text": " two"})
    assert response.status_code == 200, response.content
    assert response.json()["rev"] == 1
    assert await aread_document("doc") == (1, "one two")
    operation = await Operation.objects.aget(document__slug="doc", rev=1)
    session = await EditingSession.objects.select_related("user").aget(session_id=operation.session_id)
    assert session.user == alice
    assert session.disconnected_at is not None  # never shown as present


async def test_insert_at_an_old_revision_is_moved_past_what_was_typed_since(writer):
    await anew_document("doc", "ac")
    await writer.post("/documents/doc/operations", {"rev": 0, "op": ["zz", 2], "id": "first"})
    response = await writer.post("/documents/doc/insert", {"position": 1, "text": "b", "rev": 0})
    assert response.status_code == 200, response.content
    assert await aread_document("doc") == (2, "zzabc")


async def test_insert_past_the_end_is_refused(writer):
    await anew_document("doc", "ab")
    response = await writer.post("/documents/doc/insert", {"position": 3, "text": "x", "rev": 0})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-position"
    assert (
        await writer.post("/documents/doc/insert", {"position": 2, "text": "x", "rev": 0})
    ).status_code == 200


async def test_an_operation_is_rebased_and_a_repeat_of_it_answers_the_same(writer):
    await anew_document("doc", "abc")
    first = await writer.post("/documents/doc/operations", {"rev": 0, "op": [3, "!"], "id": "e1"})
    assert first.json() == {"rev": 1, "id": "e1"}
    rebased = await writer.post("/documents/doc/operations", {"rev": 0, "op": ["<", 3], "id": "e2"})
    assert rebased.json() == {"rev": 2, "id": "e2"}
    again = await writer.post("/documents/doc/operations", {"rev": 0, "op": ["<", 3], "id": "e2"})
    assert again.status_code == 200
    assert again.json() == {"rev": 2, "id": "e2"}
    assert await aread_document("doc") == (2, "<abc!")


async def test_a_different_edit_under_a_used_id_is_refused(writer):
    await anew_document("doc", "abc")
    await writer.post("/documents/doc/operations", {"rev": 0, "op": [3, "!"], "id": "e1"})
    response = await writer.post("/documents/doc/operations", {"rev": 0, "op": [3, "?"], "id": "e1"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "duplicate-id"
    assert body["status"] == 409
    assert body["title"] == "Conflict"
    assert await aread_document("doc") == (1, "abc!")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"rev": 0, "op": [4, "x"], "id": "a"}, 422, "invalid-op"),
        ({"rev": 0, "op": [1, 0], "id": "a"}, 422, "invalid-op"),
        ({"rev": 0, "op": [3, "x"], "id": "has space"}, 422, "invalid-request"),
        ({"rev": False, "op": [3, "x"], "id": "a"}, 422, "invalid-request"),
        ({"rev": 0, "op": [3, "x"], "id": "a", "extra": 1}, 422, "invalid-request"),
        ({"rev": 5, "op": [3, "x"], "id": "a"}, 409, "future-revision"),
        ({"rev": 0, "op": "nope", "id": "a"}, 422, "invalid-request"),
        ({"op": [3, "x"], "id": "a"}, 422, "invalid-request"),
    ],
)
async def test_a_bad_operation_is_refused_with_the_protocols_code(writer, body, status, code):
    await anew_document("doc", "abc")
    response = await writer.post("/documents/doc/operations", body)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert await aread_document("doc") == (0, "abc")


async def test_put_replaces_the_text_as_the_smallest_edit_only_with_a_current_if_match(writer):
    await anew_document("doc", "hello world")
    missing = await writer.put("/documents/doc/text", {"text": "hello there"})
    assert missing.status_code == 428
    stale = await writer.put("/documents/doc/text", {"text": "hello there"}, {"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition-failed"
    response = await writer.put("/documents/doc/text", {"text": "hello there"}, {"If-Match": '"0"'})
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"1"'
    operation = await Operation.objects.aget(document__slug="doc", rev=1)
    assert operation.op == [6, "there", -5]
    assert await aread_document("doc") == (1, "hello there")


async def test_put_refuses_when_an_edit_commits_between_its_read_and_its_commit(writer, monkeypatch):
    """If-Match is a compare-and-swap in the commit itself, not only a check before it."""
    from editor.api import writes
    from editor.live import worker
    from editor.ot.server import Edit

    await anew_document("doc", "abc")
    live = await worker.current()
    commit = writes.commit

    async def typed_meanwhile(*args, **kwargs):
        await live.committer.submit(Edit("doc", 0, ["x", 3], "typed", "tab"))
        return await commit(*args, **kwargs)

    monkeypatch.setattr(writes, "commit", typed_meanwhile)
    response = await writer.put("/documents/doc/text", {"text": "abcd"}, {"If-Match": '"0"'})
    assert response.status_code == 412
    assert await aread_document("doc") == (1, "xabc")


async def test_the_log_pages_through_the_edits_with_their_authors(writer):
    await anew_document("doc", "")
    for index in range(5):
        await writer.post("/documents/doc/append", {"text": str(index)})
    first = (await writer.get("/documents/doc/operations", since=0, limit=2)).json()
    assert [o["rev"] for o in first["operations"]] == [1, 2]
    assert first["operations"][0]["op"] == ["0"]
    assert first["operations"][0]["author"] == "alice"
    assert first["rev"] == 5
    assert first["next"] == 2
    last = (await writer.get("/documents/doc/operations", since=4, limit=2)).json()
    assert [o["rev"] for o in last["operations"]] == [5]
    assert last["next"] is None


async def test_people_lists_who_has_the_document_open(writer):
    from tests.tabs import open_tab

    await anew_document("doc", "")
    assert (await writer.get("/documents/doc/people")).json() == {"people": []}
    tab, snapshot = await open_tab("doc", "?name=Bob")
    people = (await writer.get("/documents/doc/people")).json()["people"]
    assert [(p["session"], p["name"], p["signed_in"]) for p in people] == [
        (snapshot["session"], "Bob", False)
    ]
    await tab.close()


async def test_an_http_edit_reaches_an_open_tab_at_once(writer):
    from tests.tabs import open_tab

    await anew_document("doc", "ab")
    tab, _ = await open_tab("doc")
    response = await writer.post("/documents/doc/append", {"text": "c"})
    frame = await tab.receive_type("op")
    assert (frame["rev"], frame["op"], frame["id"]) == (1, [2, "c"], response.json()["id"])
    await tab.close()


async def test_the_list_shows_what_the_caller_can_see_with_people_and_pages(writer, alice):
    bob = await amake_user("bob")
    for slug, visibility, owner in [
        ("pub", "public", bob),
        ("view", "view-only", bob),
        ("mine", "private", alice),
    ]:
        await sync_to_async(Document.objects.create)(slug=slug, visibility=visibility, owner=owner)
    await sync_to_async(Document.objects.create)(slug="theirs", visibility="private", owner=bob)
    page = (await writer.get("/documents/", limit=2)).json()
    assert page["count"] == 3
    assert len(page["items"]) == 2
    assert page["next"].endswith("/api/v1/documents/?limit=2&offset=2")
    rest = (await writer.get("/documents/", limit=2, offset=2)).json()
    slugs = {item["slug"] for item in page["items"] + rest["items"]}
    assert slugs == {"pub", "view", "mine"}
    assert rest["next"] is None
    assert {"slug", "rev", "length", "visibility", "last_change", "people"} <= set(rest["items"][0])
    anonymous = (await Api().get("/documents/")).json()
    assert {item["slug"] for item in anonymous["items"]} == {"pub", "view"}


async def test_if_match_compares_strongly(writer):
    await anew_document("doc", "abc")
    weak = await writer.put("/documents/doc/text", {"text": "x"}, {"If-Match": 'W/"0"'})
    assert weak.status_code == 412
    assert (await writer.get("/documents/doc", {"If-None-Match": 'W/"0"'})).status_code == 304
    assert await aread_document("doc") == (0, "abc")


async def test_the_log_past_the_head_is_a_future_revision(writer):
    await anew_document("doc", "abc")
    assert (await writer.get("/documents/doc/operations", since=0)).json()["operations"] == []
    response = await writer.get("/documents/doc/operations", since=1)
    assert response.status_code == 409
    assert response.json()["code"] == "future-revision"


async def test_the_default_document_made_through_the_api_stays_everyones(writer):
    response = await writer.post("/documents/", {"slug": "default", "visibility": "private"})
    assert response.status_code == 201
    document = await Document.objects.aget(slug="default")
    assert (document.owner_id, document.visibility) == (None, "public")
