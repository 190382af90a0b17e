"""The documents home (/docs/) and "New document" on Django's test client: what each list
holds, that nothing private shows to anyone else, search, and names."""

import re

import pytest
from django.contrib.auth.models import User

from editor.access.rules import Visibility
from editor.models import Document, EditingSession, Share

pytestmark = pytest.mark.django_db


def listed(page, section: str) -> list[str]:
    html = page.content.decode()
    found = re.search(rf'<section class="home-list" id="home-{section}".*?</section>', html, re.S)
    return re.findall(r'<li data-slug="([^"]+)"', found[0]) if found else []


def test_the_home_lists_what_you_opened_own_were_given_and_the_public_ones(client):
    ann = User.objects.create_user("ann", password="x" * 12)
    bob = User.objects.create_user("bob", password="x" * 12)
    Document.objects.create(slug="anns", owner=ann, visibility=Visibility.PRIVATE.value)
    given = Document.objects.create(slug="given", owner=bob, visibility=Visibility.PRIVATE.value)
    Share.objects.create(document=given, user=ann, role="editor")
    Document.objects.create(slug="bobs-secret", owner=bob, visibility=Visibility.PRIVATE.value)
    open_one = Document.objects.create(slug="open", visibility=Visibility.PUBLIC.value)
    EditingSession.objects.create(document=open_one, session_id="s1", display_name="x", worker="w")

    client.get("/d/open/")  # this browser opened it
    anonymous = client.get("/docs/")
    assert listed(anonymous, "opened") == ["open"]
    assert listed(anonymous, "public") == ["open"]
    assert listed(anonymous, "mine") == []
    assert b"1 here now" in anonymous.content
    assert b"bobs-secret" not in anonymous.content
    assert b"anns" not in anonymous.content

    client.force_login(ann)
    client.get("/d/given/")
    signed_in = client.get("/docs/")
    assert listed(signed_in, "opened") == ["given", "open"]  # last opened first
    assert listed(signed_in, "mine") == ["anns"]
    assert listed(signed_in, "shared") == ["given"]
    assert b"bobs-secret" not in signed_in.content
    found = client.get("/docs/", {"q": "GIV"})
    assert listed(found, "found") == ["given"]
    assert listed(client.get("/docs/", {"q": "secret"}), "found") == [], "not even by its name"


def test_new_document_opens_the_name_given_or_a_new_readable_one(client):
    assert client.get("/docs/new/", {"name": "minutes-2026"})["Location"] == "/d/minutes-2026/"
    made = client.get("/docs/new/")["Location"]
    assert re.fullmatch(r"/d/[a-z]+-[a-z]+-\d{4}/", made), made
    assert client.get("/docs/new/")["Location"] != made
    refused = client.get("/docs/new/", {"name": "no spaces"})
    assert refused["Location"] == "/docs/?invalid=1"
    assert client.get("/docs/new/", {"name": "x" * 65})["Location"] == "/docs/?invalid=1"
    assert client.get("/docs/new/", {"name": "x" * 64})["Location"] == f"/d/{'x' * 64}/"
    assert b"A name is 1 to 64" in client.get("/docs/?invalid=1").content
