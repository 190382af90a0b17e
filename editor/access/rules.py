"""Who may do what with a document: the rules alone, with no I/O (grants.py reads the rows).

A person's role on a document is the highest of what everyone may do (its
visibility), what its owner shared with them, and what the links they
opened give. An operator's read-only switch (``locked``) sits on top: it
stops every edit, the owner's too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Role(enum.IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    NONE = 0
    VIEWER = 1
    EDITOR = 2
    OWNER = 3  # and superusers: shares the document, changes its visibility

    @property
    def value_name(self) -> str:
        return self.name.lower()

    @classmethod
    def named(cls, name: str) -> Role:
        return cls[name.upper()]


class Visibility(enum.Enum):
    """What everyone may do, signed in or not."""

    PUBLIC = "public"  # anyone may edit: the tutorial's behaviour
    VIEW_ONLY = "view-only"  # anyone may read and watch; shares and links give editing
    PRIVATE = "private"  # only the owner, the people it is shared with, and link holders

    @property
    def label(self) -> str:
        return {
            "public": "public (anyone can edit)",
            "view-only": "view-only for everyone",
            "private": "private",
        }[self.value]

    @property
    def everyone(self) -> Role:
        return {"public": Role.EDITOR, "view-only": Role.VIEWER, "private": Role.NONE}[self.value]


@dataclass(frozen=True, slots=True)
class Person:
    """Who asks: a user (or nobody signed in) and the links they opened (by role)."""

    user_id: int | None = None
    active: bool = True  # False: the user was deactivated (or deleted) since signing in
    superuser: bool = False
    link_roles: tuple[Role, ...] = ()
    revoked_links: int = 0  # links opened that have been revoked since
    signed_out: bool = False  # the browser session it connected with no longer holds the user


@dataclass(frozen=True, slots=True)
class DocumentRights:
    """What the document's row and its shares say."""

    visibility: Visibility
    owner_id: int | None
    shares: dict[int, Role]  # user id -> role; only the asking user's is needed
    locked: bool = False
    rev: int = 0  # the document's access_rev when these were read


@dataclass(frozen=True, slots=True)
class Access:
    """One person's rights on one document, as of the document's ``rev`` of its access."""

    role: Role
    locked: bool
    rev: int
    reason: str = ""  # why there is no access (shown when a connection is refused or closed)

    @property
    def can_view(self) -> bool:
        return self.role >= Role.VIEWER

    @property
    def can_edit(self) -> bool:
        return self.role >= Role.EDITOR and not self.locked

    @property
    def can_manage(self) -> bool:
        return self.role >= Role.OWNER


def access_of(person: Person, document: DocumentRights) -> Access:
    """The rule: the highest role any grant gives, nothing for a deactivated user."""
    if person.signed_out:
        return Access(Role.NONE, document.locked, document.rev, "you signed out; reload the page")
    if not person.active:
        return Access(Role.NONE, document.locked, document.rev, "your account was deactivated")
    grants: Iterable[Role] = [document.visibility.everyone, *person.link_roles]
    if person.user_id is not None:
        if person.superuser or person.user_id == document.owner_id:
            grants = [*grants, Role.OWNER]
        grants = [*grants, document.shares.get(person.user_id, Role.NONE)]
    role = max(grants)
    reason = "" if role else _refusal(person)
    return Access(role, document.locked, document.rev, reason)


def _refusal(person: Person) -> str:
    if person.revoked_links:
        return "the link you opened this document with was revoked"
    if person.user_id is None:
        return "this document is private: sign in, or ask its owner for a link"
    return "this document is private: ask its owner to share it with you"
