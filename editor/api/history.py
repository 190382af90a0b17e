"""/api/v1/documents/{slug}/…: a document's history. Who wrote what (authorship), what changed
between two revisions (diff), restore a revision, revert one author's edits, named versions.

Reading the history needs what reading the text needs (it holds nothing the text did not
hold once); restoring, reverting and naming versions need the right to edit. Restore and
revert are edits like any other: committed through this worker's committer under the token's
API session (so the token's user is their author), broadcast to every open tab, and taken
back by restoring the revision before them. The work is store/history.py's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.params import Path
from pydantic import BeforeValidator, StrictStr

from editor import ot, selectors, services
from editor.live.threads import in_thread_pool
from editor.models import Version
from editor.store import documents, history
from editor.wire import protocol

from . import idempotency, writes
from .idempotency import Reply
from .problems import ApiError
from .schemas import PROBLEMS, SLUG, Body, Revision, Written

router = Router(tags=["history"])
SlugPath = Path(..., pattern=SLUG)


class Author(Schema):
    name: str
    signed_in: bool
    color: str = Field(description="The colour the page shows them in (their presence colour).")


class Span(Schema):
    length: int
    author: str | None = Field(description="A key of ``authors``; null: written before history was kept.")


class Authorship(Schema):
    rev: Revision
    spans: list[Span] = Field(description="The text in order, each run of characters with its author.")
    authors: dict[str, Author]


class Piece(Schema):
    kind: Literal["keep", "insert", "delete"]
    text: str
    author: str | None = Field(description="Who inserted or deleted it (a key of ``authors``).")


class Diff(Schema):
    from_rev: Revision = Field(alias="from")
    to_rev: Revision = Field(alias="to")
    changes: list[Piece] = Field(
        description="In order: kept and deleted pieces make ``from``'s text, kept and inserted ones ``to``'s."
    )
    authors: dict[str, Author]


# In a query string every value is text: numbers are parsed, not taken strictly as JSON's.
QueryRevision = Annotated[int, Field(ge=0, le=protocol.MAX_REVISION)]


class RevQuery(Schema):
    rev: QueryRevision | None = Field(None, description="A revision; the latest when left out.")


class DiffQuery(Schema):
    from_rev: QueryRevision = Field(alias="from")
    to_rev: QueryRevision | None = Field(None, alias="to", description="The latest when left out.")


class RestoreIn(Body):
    rev: Revision


# An RFC 3339 string with its offset, as the protocol reads them (pydantic alone would also
# take a number as seconds since 1970, a time without offset, and ISO 8601's other forms).
Time = Annotated[datetime, BeforeValidator(protocol.parse_time)]


class RevertIn(Body):
    author: StrictStr = Field(
        pattern=rf"^{protocol.AUTHOR_KEY.pattern}$",
        description="An author key, as ``authorship`` and ``diff`` give them.",
    )
    since: Time | None = Field(None, description="Only edits made from then on.")
    until: Time | None = Field(None, description="Only edits made until then.")


class VersionIn(Body):
    name: StrictStr = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")
    rev: Revision | None = Field(None, description="The latest when left out.")


class VersionOut(Schema):
    id: int
    rev: Revision
    name: str
    by: str
    at: datetime


class Versions(Schema):
    versions: list[VersionOut]


# Reading


async def revision_at(target: writes.Target, rev: int | None) -> history.Revision:
    """The text and authorship at ``rev`` (the head when None); refusals as problems."""
    try:
        if rev is None:
            return await in_thread_pool(history.head_revision)(document_id=target.document_id)
        return await in_thread_pool(history.revision)(document_id=target.document_id, rev=rev)
    except history.Forgotten as forgotten:
        raise _forgotten(forgotten) from None
    except history.Future as future:
        raise ApiError(409, "future-revision", str(future)) from None


def _forgotten(forgotten: history.Forgotten) -> ApiError:
    start = "" if forgotten.start is None else f"; it starts at revision {forgotten.start}"
    return ApiError(410, "history-forgotten", f"{forgotten}{start}", extra={"start": forgotten.start})


@router.get("{slug}/authorship", response={200: Authorship, **PROBLEMS})
async def read_authorship(request, query: Query[RevQuery], slug: str = SlugPath):
    """Who wrote each character of the text (now, or at ``rev``): runs of characters with their
    author, every character's author being whoever typed it, through every later edit."""
    target = await writes.visible(slug, request.auth)
    found = await revision_at(target, query.rev)
    runs, authors = await in_thread_pool(selectors.authorship_by_author)(found.authorship)
    spans = [{"length": length, "author": author} for length, author in runs]
    return {"rev": found.rev, "spans": spans, "authors": authors}


@router.get("{slug}/diff", response={200: Diff, **PROBLEMS}, by_alias=True)
async def read_diff(request, query: Query[DiffQuery], slug: str = SlugPath):
    """What changed from revision ``from`` to ``to`` (any two, ``from`` first), each insert and
    delete with who made it. Exact, not a diff of the two texts: text typed and deleted again
    in between is in neither."""
    target = await writes.visible(slug, request.auth)
    end = query.to_rev
    if end is None:
        end = (await revision_at(target, None)).rev
    if query.from_rev > end:
        raise ApiError(422, "invalid-request", f"from ({query.from_rev}) is after to ({end})")
    try:
        comparison = await in_thread_pool(history.comparison)(
            document_id=target.document_id, start=query.from_rev, end=end
        )
    except history.Forgotten as forgotten:
        raise _forgotten(forgotten) from None
    except history.Future as future:
        raise ApiError(409, "future-revision", str(future)) from None
    pieces, authors = await in_thread_pool(selectors.described_changes)(
        comparison.change, comparison.old.text
    )
    return {"from": query.from_rev, "to": end, "changes": pieces, "authors": authors}


# Restoring and reverting: edits


async def _corrected(request, target: writes.Target, seed: str | None, correction: history.Correction):
    if ot.is_noop(correction.op):
        return Reply(200, {"rev": correction.head, "id": ""}, {"ETag": f'"{correction.head}"'})
    written = await writes.commit(
        target,
        request.auth,
        base_rev=correction.head,
        op=correction.op,
        op_id=writes.derived_op_id(seed) if seed else writes.new_op_id(),
        request=request,
        resend=seed is not None,
    )
    return Reply(200, {"rev": written.rev, "id": written.op_id}, {"ETag": f'"{written.rev}"'})


@router.post("{slug}/restore", response={200: Written, **PROBLEMS})
async def restore_revision(request, body: RestoreIn, slug: str = SlugPath):
    """Make the text what it was at ``rev``, as a new edit by you (the text's later history
    stays; restoring the revision before this edit takes it back). Typing meanwhile is kept:
    the edit is rebased over it like any other. Answers the revision it made."""
    caller = request.auth
    target = await writes.writable(slug, caller)

    async def work(seed: str | None) -> Reply:
        try:
            correction = await in_thread_pool(history.restoring)(document_id=target.document_id, rev=body.rev)
        except history.Forgotten as forgotten:
            raise _forgotten(forgotten) from None
        except history.Future as future:
            raise ApiError(409, "future-revision", str(future)) from None
        return await _corrected(request, target, seed, correction)

    return await idempotency.run(request, caller, work)


@router.post("{slug}/revert", response={200: Written, **PROBLEMS})
async def revert_author(request, body: RevertIn, slug: str = SlugPath):
    """Take back one author's edits (between ``since`` and ``until``, if given), as a new edit by
    you: what they inserted is deleted, what they deleted comes back, and everyone else's
    edits, before and after, stay where they are."""
    caller = request.auth
    target = await writes.writable(slug, caller)
    if body.since is not None and body.until is not None and body.since > body.until:
        raise ApiError(422, "invalid-request", "since is after until")

    async def work(seed: str | None) -> Reply:
        sessions = await in_thread_pool(selectors.sessions_of_authors)(
            document_id=target.document_id, authors=[body.author]
        )
        try:
            correction = await in_thread_pool(history.reverting)(
                document_id=target.document_id, session_ids=sessions, since=body.since, until=body.until
            )
        except history.Forgotten as forgotten:
            raise _forgotten(forgotten) from None
        return await _corrected(request, target, seed, correction)

    return await idempotency.run(request, caller, work)


# Named versions


@router.get("{slug}/versions", response={200: Versions, **PROBLEMS})
async def list_versions(request, slug: str = SlugPath):
    """The revisions saved with a name, oldest first."""
    target = await writes.visible(slug, request.auth)
    return {"versions": await in_thread_pool(selectors.versions)(document_id=target.document_id)}


@router.post("{slug}/versions", response={201: VersionOut, **PROBLEMS})
async def name_version(request, body: VersionIn, slug: str = SlugPath):
    """Save a revision (the latest, unless ``rev`` says) under a name."""
    caller = request.auth
    target = await writes.writable(slug, caller)
    rev = (await revision_at(target, body.rev)).rev if body.rev is not None else None

    def save() -> Version:
        named = rev if rev is not None else documents.head(document_id=target.document_id)
        user = caller.token.user
        return services.save_version(
            document_id=target.document_id, rev=named, name=body.name, user_id=user.pk, by=user.get_username()
        )

    try:
        version = await in_thread_pool(save)()
    except services.TooManyVersions as too_many:
        raise ApiError(409, "too-many-versions", str(too_many)) from None
    return Status(201, selectors.version_fields(version))
