"""Read-only queries on sessions and documents, for the consumers, views, API and admin."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q

from .access.rules import Visibility
from .models import Document, EditingSession, Operation, Share, Version
from .ot import history as changes
from .wire.names import color_for

# People connected to a document now: its live sessions, one person's tabs once (their
# ``person``, names.person_key).
PEOPLE_NOW = Count("sessions__person", filter=Q(sessions__disconnected_at=None), distinct=True)


def document_people_count(*, document_id: int) -> int:
    """How many people are connected to the document right now (one person's tabs once)."""
    live = EditingSession.objects.filter(document_id=document_id, disconnected_at=None)
    return live.values("person").distinct().count()


def session_tab(*, session: EditingSession) -> tuple[int, int] | None:
    """Which of its person's live connections to the document this one is, first connected
    first, and of how many: (2, 3) is "tab 2 of 3". None once it is closed."""
    if session.disconnected_at is not None:
        return None
    same = EditingSession.objects.filter(document_id=session.document_id, disconnected_at=None)
    same = same.filter(person=session.person) if session.person else same.filter(pk=session.pk)
    order = list(same.order_by("connected_at", "pk").values_list("pk", flat=True))
    return (order.index(session.pk) + 1, len(order)) if session.pk in order else None


def documents_visible_to(*, user_id: int | None, superuser: bool = False):
    """The documents someone may see without a link (the HTTP API's list), newest change first:
    public and view-only ones, and those they own or that are shared with them (all, for a
    superuser). access/rules.py says the same per document."""
    documents = Document.objects.all()
    if not superuser:
        seen = Q(visibility__in=[Visibility.PUBLIC.value, Visibility.VIEW_ONLY.value])
        if user_id is not None:
            seen |= Q(owner_id=user_id) | Q(
                pk__in=Share.objects.filter(user_id=user_id).values("document_id")
            )
        documents = documents.filter(seen)
    return documents.annotate(people=PEOPLE_NOW).order_by("-updated_at", "pk")


HOME_ROWS = 20  # each list of the documents home shows this many, newest first


def documents_home(*, user_id: int | None, opened_slugs: list[str], query: str = "") -> dict[str, list]:
    """The documents home's lists, each row a Document with ``people`` (connected now):
    ``opened``, those this browser opened last (its session remembers them; a signed-in user's
    sessions too), ``mine`` and ``shared`` (signed in), ``public`` (recently edited), and
    ``found``, the visible ones whose name has ``query`` in it. Only what the user may see."""
    visible = documents_visible_to(user_id=user_id)
    lists: dict[str, list] = {}
    if query:
        lists["found"] = list(visible.filter(slug__icontains=query)[:HOME_ROWS])
        return lists
    slugs = list(opened_slugs)
    if user_id is not None:
        theirs = (
            EditingSession.objects.filter(user_id=user_id)
            .order_by("-connected_at")
            .values_list("document__slug", flat=True)[: HOME_ROWS * 3]
        )
        slugs += [slug for slug in theirs if slug not in slugs]
    by_slug = {document.slug: document for document in visible.filter(slug__in=slugs[: HOME_ROWS * 3])}
    lists["opened"] = [by_slug[slug] for slug in dict.fromkeys(slugs) if slug in by_slug][:HOME_ROWS]
    if user_id is not None:
        lists["mine"] = list(visible.filter(owner_id=user_id)[:HOME_ROWS])
        shared = Share.objects.filter(user_id=user_id).values("document_id")
        lists["shared"] = list(visible.filter(pk__in=shared)[:HOME_ROWS])
    lists["public"] = list(visible.filter(visibility=Visibility.PUBLIC.value)[:HOME_ROWS])
    return lists


def document_people(*, document_id: int) -> list[EditingSession]:
    """Who is connected to the document now, across workers, earliest first."""
    return list(
        EditingSession.objects.filter(document_id=document_id, disconnected_at=None)
        .only("session_id", "display_name", "user_id", "connected_at")
        .order_by("connected_at", "pk")
    )


def session_authors(*, session_ids: list[str]) -> dict[str, str | None]:
    """The user name behind each session (None: nobody signed in, or the session is forgotten)."""
    rows = EditingSession.objects.filter(session_id__in=session_ids).values_list(
        "session_id", "user__username"
    )
    return dict(rows)


def history_authors(*, session_ids: Iterable[str]) -> tuple[dict[str, str], dict[str, dict]]:
    """Who is behind each session of a document's history: each session's author key, and
    each author (name, whether signed in, colour). A signed-in user is one author over all
    their sessions (``user:<id>``); someone not signed in is their session (``session:<id>``),
    shown by its last name; a session no longer known is ``session:<id>``, "someone"."""
    wanted = set(session_ids) - {""}
    rows = EditingSession.objects.filter(session_id__in=wanted).values_list(
        "session_id", "user_id", "user__username", "display_name"
    )
    keys: dict[str, str] = {}
    authors: dict[str, dict] = {}
    for session_id, user_id, username, display_name in rows:
        key, name = (
            (f"user:{user_id}", username) if user_id is not None else (f"session:{session_id}", display_name)
        )
        keys[session_id] = key
        authors[key] = {
            "name": name or "someone",
            "signed_in": user_id is not None,
            "color": color_for(name or "someone"),
        }
    for session_id in wanted - keys.keys():
        keys[session_id] = f"session:{session_id}"
        authors[keys[session_id]] = {"name": "someone", "signed_in": False, "color": color_for("someone")}
    return keys, authors


def document_authors(*, document_id: int) -> dict[str, dict]:
    """Everyone whose edits the document's kept history holds (``history_authors`` keys and
    authors, each with how many operations), most operations first: whom an operator may revert."""
    counts = dict(
        Operation.objects.filter(document_id=document_id)
        .values_list("session_id")
        .annotate(operations=Count("pk"))
        .values_list("session_id", "operations")
    )
    keys, authors = history_authors(session_ids=counts)
    for session_id, key in keys.items():
        authors[key]["operations"] = authors[key].get("operations", 0) + counts[session_id]
    return dict(sorted(authors.items(), key=lambda item: (-item[1]["operations"], item[1]["name"])))


def sessions_of_authors(*, document_id: int, authors: Iterable[str]) -> list[str]:
    """The sessions that made a document's edits under author keys of ``history_authors``
    (one query for the users among them)."""
    users, sessions = set(), set()
    for author in authors:
        kind, _, value = author.partition(":")
        if kind == "user" and value.isdigit():
            users.add(int(value))
        elif kind == "session" and value:
            sessions.add(value)
    if users:
        of_users = EditingSession.objects.filter(document_id=document_id, user_id__in=users)
        sessions.update(of_users.values_list("session_id", flat=True))
    return sorted(sessions)


def authorship_by_author(authorship: Iterable[tuple[int, str]]) -> tuple[list[tuple[int, str | None]], dict]:
    """Authorship runs of sessions (ot/history.py) as runs of authors (``history_authors``
    keys, neighbours of one author merged; None: written before history was kept), and
    those authors."""
    keys, authors = history_authors(session_ids={session for _, session in authorship})
    runs: list[tuple[int, str | None]] = []
    for length, session_id in authorship:
        author = keys.get(session_id)
        if runs and runs[-1][1] == author:
            runs[-1] = (runs[-1][0] + length, author)
        else:
            runs.append((length, author))
    return runs, authors


CHANGE_KINDS = {changes.KEEP: "keep", changes.INSERT: "insert", changes.DELETE: "delete"}


def described_changes(change: changes.Change, old_text: str) -> tuple[list[dict], dict]:
    """A change (ot/history.py) as the API and the protocol give it: pieces in order, each
    ``{"kind": keep | insert | delete, "text", "author"}`` (an author key of
    ``history_authors``), and those authors."""
    pieces = changes.described(change, old_text)
    keys, authors = history_authors(session_ids={author for _, _, author in pieces if author})
    described = [
        {"kind": CHANGE_KINDS[kind], "text": text, "author": keys.get(author) if author else None}
        for kind, text, author in pieces
    ]
    return described, authors


def version_fields(version: Version) -> dict:
    """A named version as the API and the protocol give it: id, rev, name, by, at."""
    return {
        "id": version.pk,
        "rev": version.rev,
        "name": version.name,
        "by": version.created_by_name,
        "at": version.created_at,
    }


def versions(*, document_id: int, most: int | None = None) -> list[dict]:
    """A document's named versions, oldest revision first (only the ``most`` latest, if
    given)."""
    found = Version.objects.filter(document_id=document_id)
    if most is not None:
        found = found.order_by("-rev", "-pk")[:most]
    named = [version_fields(version) for version in found]
    return sorted(named, key=lambda version: (version["rev"], version["id"]))
