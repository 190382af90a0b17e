"""Random rights changes and edits from several people never let an edit through that the rights forbid.

Each example: a private, view-only or public document, its owner, two
signed-in people with or without shares, a link holder and someone
anonymous, all connected. Then steps, each a change of rights (visibility,
a share given, changed or removed, the link revoked, a user deactivated,
the operator's lock) made the way the product makes it, followed at once
by an edit from someone, sent before they can have been told (the race);
then every connection must be told its new rights (a ``mode`` frame, or
``forbidden`` and 4403), and an edit from each must be accepted exactly
when the rights allow it. The model of the rules here is written apart
from editor/access/rules.py.
"""

from __future__ import annotations

import itertools
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.access import grants
from editor.access.rules import Role, Visibility
from editor.live import worker
from editor.live.limits import Rate, Rates
from editor.models import Document
from editor.store import documents
from tests.documents import aread_document
from tests.tabs import ORIGIN, TIMEOUT, Tab

pytestmark = pytest.mark.django_db(transaction=True)

GENEROUS = Rate(per_second=10_000, burst=10_000)
VISIBILITIES = ["public", "view-only", "private"]
EVERYONE = {"public": "editor", "view-only": "viewer", "private": "none"}
ORDER = ["none", "viewer", "editor", "owner"]
PEOPLE = ["owner", "u1", "u2", "link", "anon"]
USERS = ["u1", "u2"]

changes = st.one_of(
    st.tuples(st.just("visibility"), st.sampled_from(VISIBILITIES)),
    st.tuples(st.just("share"), st.sampled_from(USERS), st.sampled_from(["none", "viewer", "editor"])),
    st.tuples(st.just("revoke")),
    st.tuples(st.just("deactivate"), st.sampled_from(USERS)),
    st.tuples(st.just("lock"), st.booleans()),
)
steps = st.tuples(changes, st.sampled_from(PEOPLE))
starts = st.fixed_dictionaries(
    {
        "visibility": st.sampled_from(VISIBILITIES),
        "u1": st.sampled_from(["none", "viewer", "editor"]),
        "u2": st.sampled_from(["none", "viewer", "editor"]),
        "link": st.sampled_from(["viewer", "editor"]),
    }
)


class Model:
    """The rules, written out again: the highest grant; nothing for a deactivated user."""

    def __init__(self, start: dict) -> None:
        self.visibility = start["visibility"]
        self.shares = {user: start[user] for user in USERS}
        self.link, self.revoked = start["link"], False
        self.inactive: set[str] = set()
        self.locked = False

    def role(self, person: str) -> str:
        if person in self.inactive:
            return "none"
        grants_ = [EVERYONE[self.visibility]]
        if person == "owner":
            grants_.append("owner")
        elif person in USERS:
            grants_.append(self.shares[person])
        elif person == "link" and not self.revoked:
            grants_.append(self.link)
        return max(grants_, key=ORDER.index)

    def mode(self, person: str) -> dict | None:
        role = self.role(person)
        if role == "none":
            return None
        read_only = self.locked or role == "viewer"
        return {"type": "mode", "read_only": read_only, "role": role, "locked": self.locked}

    def can_edit(self, person: str) -> bool:
        return ORDER.index(self.role(person)) >= ORDER.index("editor") and not self.locked


class Connection:
    """One person's socket: every frame it was sent, in order, until it closed."""

    def __init__(self, tab: Tab) -> None:
        self.tab = tab
        self.inbox: list[dict] = []
        self.closed_with: int | None = None

    async def _read(self) -> None:
        output = await self.tab.communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            self.closed_with = output["code"]
            return
        frame = json.loads(output["text"])
        self.inbox.extend(frame["frames"] if frame["type"] == "batch" else [frame])

    async def take(self, wanted) -> dict | None:
        """The first frame ``wanted`` accepts, reading on as needed; None once the socket closed."""
        while True:
            for index, frame in enumerate(self.inbox):
                if wanted(frame):
                    return self.inbox.pop(index)
            if self.closed_with is not None:
                return None
            await self._read()


class Example:
    def __init__(self, slug: str, start: dict) -> None:
        self.slug = slug
        self.model = Model(start)
        self.connections: dict[str, Connection] = {}
        self.told: dict[str, dict] = {}
        self.ids = itertools.count()
        self.text = ""

    def setup(self) -> dict[str, Client]:
        """The rows, and each person's browser session (signed in, or holding the link)."""
        owner = User.objects.create_user(f"{self.slug}-owner")
        users = {name: User.objects.create_user(f"{self.slug}-{name}") for name in USERS}
        self.users = users
        document = Document.objects.create(slug=self.slug, owner=owner, visibility=self.model.visibility)
        self.document = document
        for name, user in users.items():
            if self.model.shares[name] != "none":
                grants.share(document=document, user=user, role=Role.named(self.model.shares[name]))
        self.link, token = grants.create_link(document=document, role=Role.named(self.model.link))
        browsers = {name: Client() for name in PEOPLE}
        browsers["owner"].force_login(owner)
        for name, user in users.items():
            browsers[name].force_login(user)
        assert browsers["link"].get(f"/links/{token}/").status_code == 302
        return browsers

    def change(self, change: tuple) -> None:
        """Made as the product makes it (the sharing page's and the admin's functions)."""
        kind, *args = change
        model = self.model
        if kind == "visibility":
            model.visibility = args[0]
            grants.set_document_rights(document_id=self.document.pk, visibility=Visibility(args[0]))
        elif kind == "share":
            name, role = args
            model.shares[name] = role
            if role == "none":
                grants.unshare(document=self.document, user_id=self.users[name].pk)
            else:
                grants.share(document=self.document, user=self.users[name], role=Role.named(role))
        elif kind == "revoke":
            model.revoked = True
            self.link.refresh_from_db()
            grants.revoke_link(self.link)
        elif kind == "deactivate":
            model.inactive.add(args[0])
            user = self.users[args[0]]
            user.is_active = False
            user.save()
        else:
            model.locked = args[0]
            documents.set_read_only(document_ids=[self.document.pk], read_only=args[0])
            grants.rights_changed([self.document.pk])

    async def connect(self, browsers: dict[str, Client]) -> None:
        for name in PEOPLE:
            cookie = browsers[name].cookies.get("sessionid")
            headers = [ORIGIN] + ([(b"cookie", f"sessionid={cookie.value}".encode())] if cookie else [])
            connection = Connection(Tab(f"/ws/docs/{self.slug}/", headers=headers))
            connected, _ = await connection.tab.communicator.connect(timeout=TIMEOUT)
            assert connected
            first = await connection.take(lambda f: f["type"] in ("snapshot", "error"))
            expected = self.model.mode(name)
            if expected is None:
                assert first["code"] == "forbidden", (name, first)
                await connection.take(lambda f: False)
                assert connection.closed_with == 4403
                continue
            assert {"type": "mode", **{k: first[k] for k in ("read_only", "role", "locked")}} == expected
            self.connections[name] = connection
            self.told[name] = expected

    async def edit(self, name: str, *, told: bool) -> None:
        """An edit from ``name``: never acknowledged unless the rights allow it; acknowledged when
        they do and the connection was told them."""
        connection = self.connections.get(name)
        if connection is None:
            return
        op_id = f"{name}-{next(self.ids)}"
        rev, text = await aread_document(self.slug)
        await connection.tab.send(
            {"type": "op", "rev": rev, "op": [len(text), "x"] if text else ["x"], "id": op_id}
        )
        answer = await connection.take(lambda f: f.get("id") == op_id and f["type"] in ("ack", "error"))
        allowed = self.model.can_edit(name)
        if answer is not None and answer["type"] == "ack":
            assert allowed, f"{name} edited as {self.model.role(name)}, locked={self.model.locked}"
            self.text += "x"
        elif told:
            assert not allowed, (name, answer)
            if answer is not None:
                assert answer["code"] == "read-only", answer

    async def settle(self) -> None:
        """Every connection is told what changed for it, and nothing else about its mode."""
        for name, connection in list(self.connections.items()):
            expected = self.model.mode(name)
            if expected is None:
                error = await connection.take(lambda f: f["type"] == "error" and f["code"] == "forbidden")
                assert error is not None or connection.closed_with == 4403
                await connection.take(lambda f: False)
                assert connection.closed_with == 4403
                del self.connections[name]
                continue
            if expected != self.told[name]:
                mode = await connection.take(lambda f, e=expected: f == e)
                assert mode == expected, (name, connection.inbox, expected)
                self.told[name] = expected
            stray = [f for f in connection.inbox if f["type"] == "mode" and f != expected]
            assert not stray, (name, stray, expected)

    async def close(self) -> None:
        for connection in self.connections.values():
            await connection.tab.communicator.disconnect()


slugs = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=starts, plan=st.lists(steps, min_size=1, max_size=10))
def test_no_edit_gets_through_that_the_rights_at_that_moment_forbid(start, plan, settings_):
    settings_.EDITOR_RATES = Rates(GENEROUS, GENEROUS, GENEROUS, GENEROUS, GENEROUS)
    async_to_sync(_run)(Example(f"rights{next(slugs)}", start), plan)


async def _run(example: Example, plan: list[tuple]) -> None:
    try:
        await example.connect(await sync_to_async(example.setup)())
        for change, editor in plan:
            await sync_to_async(example.change)(change)
            await example.edit(editor, told=False)  # before it can have heard of the change
            await example.settle()
            for name in PEOPLE:
                await example.edit(name, told=True)
        assert (await aread_document(example.slug))[1] == example.text
        await example.close()
    finally:
        await worker.stop()


@pytest.fixture
def settings_(settings):
    """pytest-django's settings, under a name hypothesis' ``given`` does not take for a strategy."""
    return settings
