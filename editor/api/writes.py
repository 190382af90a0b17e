"""HTTP edits as the protocol's edits, committed and broadcast as a socket's are.

Each write becomes an ``Edit`` made on a revision the caller saw (or the
head), goes to this worker's committer (live/committer.py) with whatever
tabs are typing, and is broadcast through the hub to every worker: open
tabs see it at once. It is made under the token's API session
(services.api_session), whose user is its author. The engine rebases it
over what was committed since its revision, as it would a socket's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from editor import ot, services
from editor.access import grants
from editor.access.rules import Access, Role
from editor.live import worker
from editor.live.threads import in_thread_pool
from editor.models import Document
from editor.ot.server import Edit, EditRejected, LoggedOperation
from editor.store import documents

from . import callers
from .callers import Caller
from .problems import ApiError

# An edit refused because the rights changed meanwhile is tried again under the new ones.
ACCESS_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Target:
    """A document the caller may at least see, and what they may do with it."""

    document_id: int
    slug: str
    access: Access


def _find(slug: str, visitor: grants.Visitor) -> Target | None:
    document_id = Document.objects.filter(slug=slug).values_list("pk", flat=True).first()
    if document_id is None:
        return None
    return Target(document_id, slug, grants.access_for(document_id=document_id, visitor=visitor))


async def visible(slug: str, caller: Caller) -> Target:
    """The document, if the caller may see it; else 404, whether or not it exists."""
    target = await in_thread_pool(_find)(slug, caller.visitor)
    if target is None or not target.access.can_view:
        raise ApiError.not_found(slug)
    return target


async def writable(slug: str, caller: Caller) -> Target:
    """The document, if the caller's token may write and its user edit it."""
    caller.require_write()
    target = await visible(slug, caller)
    _check_can_edit(target.access)
    return target


def _check_can_edit(access: Access) -> None:
    if not access.can_view:
        raise ApiError(403, "forbidden", f"you no longer have access to this document: {access.reason}")
    if access.role < Role.EDITOR:
        raise ApiError(403, "forbidden", "you can view this document, not edit it")
    if access.locked:
        raise ApiError.of_rejection(EditRejected.read_only())


def derived_op_id(seed: str) -> str:
    """The edit id of a request made with an Idempotency-Key: the same for every repeat of it."""
    return "k-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


def new_op_id() -> str:
    """The edit id of a request made without one: drawn at random, as the browser draws its ids."""
    return "h-" + secrets.token_hex(16)


async def commit(
    target: Target,
    caller: Caller,
    *,
    base_rev: int,
    op: ot.Operation,
    op_id: str,
    request,
    only_on_head: bool = False,
    resend: bool = False,
    edit_taken: bool = False,
) -> LoggedOperation:
    """Commit the edit through this worker's committer, as the token's user; its logged operation.

    ``resend``: the id comes from an Idempotency-Key, so an edit stored under it is this
    request's, made by an earlier try of it (one that died before answering). ``edit_taken``:
    the caller counted the edit against the token's rate already (``take_edit``).
    """
    token = caller.require_write()
    if not edit_taken:
        take_edit(caller)
    live = await live_worker()
    session_id = await in_thread_pool(services.api_session)(
        token_id=token.pk,
        user=token.user,
        document_id=target.document_id,
        client_address=caller.address,
        user_agent=request.headers.get("User-Agent", ""),
    )
    access = target.access
    for _ in range(ACCESS_RETRIES):
        _check_can_edit(access)
        edit = Edit(
            slug=target.slug,
            base_rev=base_rev,
            op=op,
            op_id=op_id,
            session_id=session_id,
            access_rev=access.rev,
            only_on_head=only_on_head,
        )
        try:
            accepted = await live.committer.submit(edit)  # committed, and broadcast to every tab
        except EditRejected as rejected:
            if rejected.code == "duplicate-id" and resend:
                earlier = await in_thread_pool(documents.operation_with_id)(
                    document_id=target.document_id, op_id=op_id
                )
                if earlier is not None:
                    return earlier
            if rejected.code != EditRejected.ACCESS_CHANGED:
                raise ApiError.of_rejection(rejected) from None
            access = await in_thread_pool(grants.access_for)(
                document_id=target.document_id, visitor=caller.visitor
            )
            continue
        return accepted.operation
    raise ApiError.unavailable("the rights on this document kept changing; the edit was not applied")


def take_edit(caller: Caller) -> None:
    """Count one edit against the token's rate, or refuse it (429)."""
    if wait := callers.edits.take(caller.rate_key):
        raise ApiError.rate_limited(wait, "edits")


async def live_worker() -> worker.Worker:
    """This process's worker, or 503 while it shuts down."""
    try:
        return await worker.current()
    except worker.Draining:
        raise ApiError.unavailable("this server is restarting; send the request again") from None


# Edits made of what the API's endpoints say


async def head_length(target: Target) -> tuple[int, int]:
    rev = await in_thread_pool(documents.head)(document_id=target.document_id)
    length = await length_at(target, rev)
    return rev, length


async def length_at(target: Target, rev: int) -> int:
    """The document's length at ``rev``, or the protocol's refusal (ahead of the head, or older
    than the log keeps)."""
    length = await in_thread_pool(documents.length_at)(document_id=target.document_id, rev=rev)
    if length is not None:
        return length
    head = await in_thread_pool(documents.head)(document_id=target.document_id)
    if rev > head:
        raise ApiError(
            409, "future-revision", f"revision {rev} does not exist yet; the document is at {head}"
        )
    raise ApiError(
        409, "stale-revision", f"revision {rev} is older than the history the server keeps; read it again"
    )


def insertion(position: int, text: str, length: int) -> ot.Operation:
    """Insert ``text`` at ``position`` of a document ``length`` characters long."""
    if position > length:
        raise ApiError(
            422, "invalid-position", f"position {position} is past the end of the text ({length} characters)"
        )
    return ot.normalize([position, text, length - position])
