"""Reading and changing who may do what: rights from the rows, links, and the live effect of a change.

Every change of rights goes through ``rights_changed``, in the transaction
that makes it: the documents' ``access_rev`` grows under their row locks
(so an edit sent under the old rights fails its commit, store/commit.py),
and once the transaction commits every worker serving the documents is
told, and its connections read their rights again (consumers.py).
Shares, links and users call it from their signals (signals.py), so the
admin and the shell have the same effect as the sharing page.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from editor.live import notify
from editor.models import Document, EditingSession, Share, ShareLink
from editor.store import documents

from .rules import Access, DocumentRights, Person, Role, Visibility, access_of

# The tutorial's shared document, at /: everyone's, whoever opens it first.
DEFAULT_DOCUMENT = "default"

# Where a browser session keeps the links it opened (their ids; newest last).
SESSION_LINKS = "editor.links"
MOST_LINKS_PER_SESSION = 50
TOKEN_BYTES = 24  # 32 URL-safe characters: 192 bits, not to be guessed
# What a document's row says of who may do what on it (the rest is in shares and links).
_RIGHTS_COLUMNS = ("pk", "access_rev", "visibility", "owner_id", "read_only")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who asks, as a page or a socket knows them: the user (or nobody), the links their browser
    session opened, and, for a socket, that session's key (it must still hold the user: signing
    out, or a new password, ends the socket's rights; a request's user Django checked already)."""

    user_id: int | None = None
    link_ids: tuple[int, ...] = ()
    session_key: str | None = None

    @classmethod
    def of_request(cls, request) -> Visitor:
        user_id = request.user.pk if request.user.is_authenticated else None
        return cls(user_id, tuple(session_link_ids(request.session)))

    @classmethod
    def of_socket(cls, user_id: int | None, session) -> Visitor:
        """Reads the session (in a thread: it is a database read)."""
        if session is None:
            return cls(user_id)
        return cls(
            user_id, tuple(session_link_ids(session)), session.session_key if user_id is not None else None
        )


# Reading


def access_for(*, document_id: int, visitor: Visitor) -> Access:
    """One visitor's rights on one document, read now.

    The document's ``access_rev`` is read first: a change committed after
    that read also grows it, so an edit sent under these rights is refused
    at its commit and its sender reads them again.
    """
    row = Document.objects.filter(pk=document_id).values(*_RIGHTS_COLUMNS).first()
    if row is None:
        return Access(Role.NONE, False, 0, "the document is gone")
    return _access_on(row, visitor)


def _access_on(row: dict, visitor: Visitor) -> Access:
    """The rights a document's row (``_RIGHTS_COLUMNS``, read first) and its shares and
    links, read now, give a visitor."""
    document_id = row["pk"]
    shares = {}
    if visitor.user_id is not None:
        shares = dict(
            Share.objects.filter(document_id=document_id, user_id=visitor.user_id).values_list(
                "user_id", "role"
            )
        )
    rights = DocumentRights(
        visibility=Visibility(row["visibility"]),
        owner_id=row["owner_id"],
        shares={user: Role.named(role) for user, role in shares.items()},
        locked=row["read_only"],
        rev=row["access_rev"],
    )
    return access_of(person_for(document_id=document_id, visitor=visitor), rights)


def page_access(*, slug: str, visitor: Visitor) -> Access:
    """The rights a page shows: those on the document, or, if it does not exist yet, those of
    whoever opens it now (it is created by their connection, as ``new_document`` says)."""
    row = Document.objects.filter(slug=slug).values(*_RIGHTS_COLUMNS).first()
    if row is not None:  # one read of the row by its slug, not its id and then its rights
        return _access_on(row, visitor)
    new = new_document(slug=slug, user_id=visitor.user_id)
    rights = DocumentRights(visibility=Visibility(new.visibility), owner_id=new.owner_id, shares={})
    return access_of(Person(user_id=visitor.user_id), rights)


def new_document(*, slug: str, user_id: int | None) -> documents.NewDocument:
    """Who owns a document created by opening it: whoever was signed in, with the visibility
    EDITOR_NEW_DOCUMENT_VISIBILITY; nobody (and public) if nobody was, and for the default one."""
    if user_id is None or slug == DEFAULT_DOCUMENT:
        return documents.NewDocument(owner_id=None, visibility=Visibility.PUBLIC.value)
    return documents.NewDocument(owner_id=user_id, visibility=settings.EDITOR_NEW_DOCUMENT_VISIBILITY)


def person_for(*, document_id: int, visitor: Visitor) -> Person:
    """The user as the database has them now, and the links they opened to this document."""
    user_id, session_key = visitor.user_id, visitor.session_key
    links = list(
        ShareLink.objects.filter(pk__in=list(visitor.link_ids), document_id=document_id).values_list(
            "role", "revoked_at"
        )
    )
    link_roles = tuple(Role.named(role) for role, revoked_at in links if revoked_at is None)
    revoked = sum(1 for _, revoked_at in links if revoked_at is not None)
    if user_id is None:
        return Person(link_roles=link_roles, revoked_links=revoked)
    # The account first: a deactivated user's session is signed out too (Django's get_user
    # refuses inactive users), and they must be told the account is why.
    user = get_user_model().objects.filter(pk=user_id).values("is_active", "is_superuser").first()
    if user is None or not user["is_active"]:
        return Person(user_id=user_id, active=False)
    if session_key is not None and signed_in_user_id(session_key) != user_id:
        return Person(user_id=user_id, active=False, signed_out=True)
    return Person(
        user_id=user_id,
        superuser=user["is_superuser"],
        link_roles=link_roles,
        revoked_links=revoked,
    )


def signed_in_user_id(session_key: str) -> int | None:
    """Who a browser session is signed in as now, checked as Django checks every request (the
    user active, the session's password hash current); None once it signed out."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    return user.pk if user.is_authenticated else None


def session_link_ids(session) -> list[int]:
    """The links a browser session opened (Django's session, or Channels' in a socket's scope)."""
    ids = session.get(SESSION_LINKS, []) if session is not None else []
    return [link_id for link_id in ids if isinstance(link_id, int)]


# Links


def create_link(*, document: Document, role: Role, created_by=None) -> tuple[ShareLink, str]:
    """A new link and its token, which is not stored and can be shown only now."""
    if role not in (Role.EDITOR, Role.VIEWER):
        raise ValueError(f"a link gives editor or viewer, not {role.value_name}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink.objects.create(
        document=document,
        role=role.value_name,
        token_hash=hash_token(token),
        hint=token[:6],
        created_by=created_by,
    )
    return link, token


def link_for_token(token: str) -> ShareLink | None:
    """The link with this token, revoked or not; None if there never was one."""
    return ShareLink.objects.select_related("document").filter(token_hash=hash_token(token)).first()


def remember_link(session, link: ShareLink) -> None:
    """The browser session holds the link from now on: its sockets and pages get the link's role."""
    ids = [link_id for link_id in session_link_ids(session) if link_id != link.pk]
    session[SESSION_LINKS] = [*ids, link.pk][-MOST_LINKS_PER_SESSION:]


def revoke_link(link: ShareLink) -> None:
    with transaction.atomic():
        if link.revoked_at is None:
            link.revoked_at = timezone.now()
            link.save(update_fields=["revoked_at"])  # signals.py: rights_changed


# Shares and visibility


def share(*, document: Document, user, role: Role) -> Share:
    """Share the document with ``user`` as editor or viewer (or change their role)."""
    if role not in (Role.EDITOR, Role.VIEWER):
        raise ValueError(f"a share gives editor or viewer, not {role.value_name}")
    with transaction.atomic():
        shared, _ = Share.objects.update_or_create(
            document=document, user=user, defaults={"role": role.value_name}
        )
    return shared


def unshare(*, document: Document, user_id: int) -> None:
    with transaction.atomic():
        for shared in Share.objects.filter(document=document, user_id=user_id):
            shared.delete()  # one by one, so that signals.py sees each


def set_document_rights(*, document_id: int, visibility: Visibility | None = None, owner_id=...) -> None:
    """Change a document's visibility or owner (only those columns: edits write the others)."""
    changes = {}
    if visibility is not None:
        changes["visibility"] = visibility.value
    if owner_id is not ...:
        changes["owner_id"] = owner_id
    with transaction.atomic():
        if changes:
            Document.objects.filter(pk=document_id).update(**changes)
        rights_changed([document_id])


# The live effect


def rights_changed(document_ids: Iterable[int]) -> None:
    """Grow the documents' access_rev now; tell their connections once this transaction commits."""
    slugs = documents.bump_access_rev(document_ids=list(document_ids))
    if slugs:
        transaction.on_commit(lambda: notify.documents_access_changed(slugs))


def documents_of_user(user_id: int) -> list[int]:
    """Where a change to a user's account matters now: the documents they are connected to."""
    return list(
        EditingSession.objects.filter(user_id=user_id, disconnected_at=None)
        .values_list("document_id", flat=True)
        .distinct()
    )
