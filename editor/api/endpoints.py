"""The routes of /api/v1/: each parses, checks, calls writes.py or the store, and answers.

django-ninja: async views on the worker's event loop (so an HTTP edit goes to the same
committer as the sockets'), bodies and the OpenAPI 3.1 description from schemas.py.
"""

from __future__ import annotations

import asyncio
import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import NinjaAPI, Query, Schema
from ninja.errors import HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.params import Header, Path
from pydantic import Field

from editor import ot, selectors
from editor.access import grants
from editor.live.threads import in_thread_pool
from editor.models import Document
from editor.store import documents
from editor.store.drivers import database_unavailable
from editor.wire import protocol

from . import history, hooks, idempotency, problems, schemas, writes
from .callers import BearerToken, Caller
from .idempotency import Reply
from .problems import ApiError, problem_response

logger = logging.getLogger(__name__)


class EditorAPI(NinjaAPI):
    """The OpenAPI description says what ninja cannot: reads need no token, refusals are
    problem+json, and each operation is named after its view."""

    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for name, path in schema["paths"].items():
            for method, operation in path.items():
                if method == "get" and "/documents/" in name:
                    operation["security"] = [*operation.get("security", []), {}]
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "If-Match":
                        # Required, though a request without it is answered (428): said here.
                        parameter["required"] = True
                for status, response in operation["responses"].items():
                    if int(status) >= 400 and "content" in response:
                        response["content"] = {problems.PROBLEM_TYPE: response["content"]["application/json"]}
        return schema


api = EditorAPI(
    title="Realtime editor API",
    version="1",
    description=(
        "Read and edit the editor's documents over HTTP; every edit reaches the open tabs at once. "
        "Send `Authorization: Bearer <token>` (made with `manage.py create_api_token` or in the admin); "
        "without one, public and view-only documents can be read. Errors are RFC 9457 problems "
        "whose `code` is the WebSocket protocol's (docs/protocol.md)."
    ),
    urls_namespace="api-v1",
    auth=BearerToken(),
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)

api.add_router("/webhooks/", hooks.router)
api.add_router("/documents/", history.router)

SlugPath = Path(..., pattern=schemas.SLUG)
PROBLEMS = schemas.PROBLEMS


def _caller(request: HttpRequest) -> Caller:
    return request.auth


# Refusals, as problems


def api_not_found(request) -> HttpResponse:
    """Any other path under /api/: a problem, not the site's HTML 404."""
    return problem_response(ApiError(404, "unknown-endpoint", "no such endpoint; see /api/v1/docs"))


@api.exception_handler(ApiError)
def _api_error(request, error: ApiError):
    return problem_response(error)


@api.exception_handler(ValidationError)
def _invalid(request, error: ValidationError):
    detail = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', 'invalid')}"
        for e in error.errors
    )
    return problem_response(ApiError(422, "invalid-request", detail or "the request is not valid"))


@api.exception_handler(HttpError)
def _http_error(request, error: HttpError):
    return problem_response(ApiError(error.status_code, "invalid-request", str(error)))


@api.exception_handler(Exception)
def _unexpected(request, error: Exception):
    if database_unavailable(error):
        logger.warning("%s %s: database unavailable (%s)", request.method, request.path, error)
        return problem_response(ApiError.unavailable("the server cannot reach its database at the moment"))
    raise error


# Documents


class ListQuery(Schema):
    limit: int = Field(settings.EDITOR_API_PAGE_SIZE, ge=1, le=settings.EDITOR_API_PAGE_SIZE)
    offset: int = Field(0, ge=0, le=2**31 - 1)


def _list(caller: Caller, limit: int, offset: int) -> tuple[list, int]:
    token = caller.token
    visible = selectors.documents_visible_to(
        user_id=token.user_id if token else None, superuser=bool(token and token.user.is_superuser)
    )
    return list(visible[offset : offset + limit]), visible.count()


@api.get("/documents/", response={200: schemas.DocumentPage, **PROBLEMS}, tags=["documents"])
async def list_documents(request, query: Query[ListQuery]):
    """The documents you can see, the latest changed first."""
    rows, count = await in_thread_pool(_list)(_caller(request), query.limit, query.offset)
    following = query.offset + query.limit
    next_url = None
    if following < count:
        next_url = request.build_absolute_uri(f"{request.path}?limit={query.limit}&offset={following}")
    items = [
        schemas.DocumentSummary(
            slug=row.slug,
            rev=row.rev,
            length=row.length,
            visibility=row.visibility,
            last_change=row.updated_at,
            people=row.people,
        )
        for row in rows
    ]
    return {"items": items, "count": count, "next": next_url}


@api.post("/documents/", response={201: schemas.DocumentOut, **PROBLEMS}, tags=["documents"])
async def create_document(request, body: schemas.DocumentIn):
    """Make a document that the token's user owns; its text, if given, is its first edit."""
    caller = _caller(request)
    token = caller.require_write()
    _check_text(body.text)

    async def work(seed: str | None) -> Reply:
        if body.text:  # refused now, not after the document is made
            writes.take_edit(caller)
            await writes.live_worker()
        new = grants.new_document(slug=body.slug, user_id=token.user_id)
        if new.owner_id is not None:  # not the shared default document, which stays everyone's
            visibility = body.visibility or settings.EDITOR_NEW_DOCUMENT_VISIBILITY
            new = documents.NewDocument(owner_id=token.user_id, visibility=visibility)
        document_id = await in_thread_pool(documents.create)(slug=body.slug, new=new)
        if document_id is None and seed is not None:
            # A first try with this key that made the document and died: finish it.
            document_id = await in_thread_pool(_owned_document_id)(body.slug, token.user_id)
        if document_id is None:
            raise ApiError(409, "document-exists", f"there is a document {body.slug!r} already")
        rev = 0
        if body.text:
            target = writes.Target(document_id, body.slug, await _access(document_id, caller))
            written = await writes.commit(
                target,
                caller,
                base_rev=0,
                op=[body.text],
                op_id=writes.derived_op_id(seed) if seed else writes.new_op_id(),
                request=request,
                resend=seed is not None,
                edit_taken=True,
            )
            rev = written.rev
        location = reverse("api-v1:read_document", kwargs={"slug": body.slug})
        document = {"slug": body.slug, "rev": rev, "text": body.text, "length": len(body.text)}
        return Reply(201, document, {"Location": location, "ETag": _etag(rev)})

    return await idempotency.run(request, caller, work)


def _owned_document_id(slug: str, user_id: int) -> int | None:
    return Document.objects.filter(slug=slug, owner_id=user_id).values_list("pk", flat=True).first()


async def _access(document_id: int, caller: Caller):
    return await in_thread_pool(grants.access_for)(document_id=document_id, visitor=caller.visitor)


def _check_text(text: str) -> None:
    if not protocol.storable(text):
        raise ApiError(422, "invalid-op", "text must be valid Unicode without NUL characters")
    most = settings.EDITOR_MAX_DOCUMENT_CHARS
    if len(text) > most:
        raise ApiError(
            422,
            "document-too-large",
            f"the document would have {len(text)} characters; the limit is {most}",
        )


# A document's text


def _etag(rev: int) -> str:
    return f'"{rev}"'


ETAG = re.compile(r'\s*(?:W/)?"(\d{1,16})"\s*')


def _revisions_named(header: str, *, weak: bool) -> set[int] | None:
    """The revisions an If-Match or If-None-Match header names; None for ``*``. What is not an
    ETag of ours names none: If-Match then fails (412), If-None-Match holds (200)."""
    if header.strip() == "*":
        return None
    named = (ETAG.fullmatch(part) for part in header.split(","))
    # If-Match compares strongly (RFC 9110 13.1.1): a weak tag matches nothing.
    return {int(m[1]) for m in named if m and (weak or not m[0].strip().startswith("W/"))}


@api.get("/documents/{slug}", response={200: schemas.DocumentOut, 304: None, **PROBLEMS}, tags=["documents"])
async def read_document(
    request,
    query: Query[history.RevQuery],
    slug: str = SlugPath,
    if_none_match: str | None = Header(None, alias="If-None-Match"),
):
    """The text now, or at revision ``rev`` (410 before the history starts); ``ETag`` is its
    revision, and ``If-None-Match`` with it answers 304."""
    target = await writes.visible(slug, _caller(request))
    # An old revision never changes: it is read (and so checked) first.
    found = None if query.rev is None else await history.revision_at(target, query.rev)
    if if_none_match is not None:
        rev = found.rev if found else await in_thread_pool(documents.head)(document_id=target.document_id)
        named = _revisions_named(if_none_match, weak=True)
        if named is None or rev in named:
            response = HttpResponse(status=304)
            response["ETag"] = _etag(rev)
            return response
    if found is None:
        found = await in_thread_pool(documents.snapshot)(document_id=target.document_id)
    body = {"slug": slug, "rev": found.rev, "text": found.text, "length": len(found.text)}
    return Reply(200, body, {"ETag": _etag(found.rev)}).response()


@api.put("/documents/{slug}/text", response={200: schemas.Written, **PROBLEMS}, tags=["documents"])
async def replace_text(
    request,
    body: schemas.TextIn,
    slug: str = SlugPath,
    if_match: str | None = Header(None, alias="If-Match", description="The ETag of the text it replaces."),
):
    """Replace the whole text, only if it is still the revision ``If-Match`` names (412 if not,
    428 without it): committed as the smallest edit, so the carets of open tabs stay put."""
    caller = _caller(request)
    target = await writes.writable(slug, caller)
    if if_match is None:
        raise ApiError(428, "precondition-required", "send If-Match with the ETag of the text you replace")
    _check_text(body.text)
    named = _revisions_named(if_match, weak=False)
    snapshot = await in_thread_pool(documents.snapshot)(document_id=target.document_id)
    if named is not None and snapshot.rev not in named:
        raise ApiError(
            412, "precondition-failed", f"the document is at revision {snapshot.rev}; read it again"
        )
    op = await asyncio.to_thread(
        ot.from_diff, snapshot.text, body.text
    )  # a long text's diff: not on the loop
    if ot.is_noop(op):
        return Reply(200, {"rev": snapshot.rev, "id": ""}, {"ETag": _etag(snapshot.rev)}).response()
    written = await writes.commit(
        target,
        caller,
        base_rev=snapshot.rev,
        op=op,
        op_id=writes.new_op_id(),
        request=request,
        only_on_head=True,
    )
    return Reply(200, {"rev": written.rev, "id": written.op_id}, {"ETag": _etag(written.rev)}).response()


# Edits


def _written(written) -> Reply:
    return Reply(200, {"rev": written.rev, "id": written.op_id})


@api.post("/documents/{slug}/operations", response={200: schemas.Written, **PROBLEMS}, tags=["edits"])
async def submit_operation(request, body: schemas.OperationIn, slug: str = SlugPath):
    """An edit exactly as the socket protocol's ``op`` frame: made on revision ``rev`` and rebased
    over what was committed since; a repeat with the same ``id`` answers as the first did."""
    caller = _caller(request)
    target = await writes.writable(slug, caller)
    try:
        op_id = protocol.parse_op_id(body.id)
        op = protocol.parse_op(body.op, op_id)
    except protocol.ProtocolError as error:
        raise ApiError(422, error.code, error.message) from None

    async def work(seed: str | None) -> Reply:
        written = await writes.commit(target, caller, base_rev=body.rev, op=op, op_id=op_id, request=request)
        return _written(written)

    return await idempotency.run(request, caller, work)


async def _made_edit(request, target, seed: str | None, *, base_rev: int, op: ot.Operation) -> Reply:
    """An edit the API made of the request: its id from the Idempotency-Key, else a new one."""
    written = await writes.commit(
        target,
        _caller(request),
        base_rev=base_rev,
        op=op,
        op_id=writes.derived_op_id(seed) if seed else writes.new_op_id(),
        request=request,
        resend=seed is not None,
    )
    return _written(written)


@api.post("/documents/{slug}/append", response={200: schemas.Written, **PROBLEMS}, tags=["edits"])
async def append_text(request, body: schemas.AppendIn, slug: str = SlugPath):
    """Add text at the end, after whatever was typed meanwhile."""
    caller = _caller(request)
    target = await writes.writable(slug, caller)
    _check_text(body.text)

    async def work(seed: str | None) -> Reply:
        rev, length = await writes.head_length(target)
        return await _made_edit(request, target, seed, base_rev=rev, op=ot.normalize([length, body.text]))

    return await idempotency.run(request, caller, work)


@api.post("/documents/{slug}/insert", response={200: schemas.Written, **PROBLEMS}, tags=["edits"])
async def insert_text(request, body: schemas.InsertIn, slug: str = SlugPath):
    """Insert text at ``position`` of revision ``rev``; moved along by what was committed since."""
    caller = _caller(request)
    target = await writes.writable(slug, caller)
    _check_text(body.text)

    async def work(seed: str | None) -> Reply:
        length = await writes.length_at(target, body.rev)
        op = writes.insertion(body.position, body.text, length)
        return await _made_edit(request, target, seed, base_rev=body.rev, op=op)

    return await idempotency.run(request, caller, work)


class LogQuery(Schema):
    since: int = Field(0, ge=0, le=protocol.MAX_REVISION)
    limit: int = Field(settings.EDITOR_API_PAGE_SIZE, ge=1, le=settings.EDITOR_API_PAGE_SIZE)


@api.get("/documents/{slug}/operations", response={200: schemas.OperationPage, **PROBLEMS}, tags=["edits"])
async def list_operations(request, query: Query[LogQuery], slug: str = SlugPath):
    """The edits after revision ``since``, oldest first, a page at a time (410 when the log no
    longer reaches back that far: read the text instead)."""
    target = await writes.visible(slug, _caller(request))
    head, page = await in_thread_pool(documents.operations_page)(
        document_id=target.document_id, since=query.since, most=query.limit
    )
    if query.since > head:
        detail = f"revision {query.since} does not exist yet; the document is at {head}"
        raise ApiError(409, "future-revision", detail)
    if page is None:
        raise ApiError(410, "history-forgotten", f"the log no longer reaches back to revision {query.since}")
    authors = await in_thread_pool(selectors.session_authors)(session_ids=[o.session_id for o in page])
    operations = [
        {"rev": o.rev, "op": o.op, "id": o.op_id, "author": authors.get(o.session_id)} for o in page
    ]
    last = page[-1].rev if page else query.since
    return {"rev": head, "operations": operations, "next": last if last < head else None}


@api.get("/documents/{slug}/people", response={200: schemas.People, **PROBLEMS}, tags=["documents"])
async def list_people(request, slug: str = SlugPath):
    """Who has the document open now, on any worker."""
    target = await writes.visible(slug, _caller(request))
    sessions = await in_thread_pool(selectors.document_people)(document_id=target.document_id)
    people = [
        {
            "session": s.session_id,
            "name": s.display_name,
            "signed_in": s.user_id is not None,
            "since": s.connected_at,
        }
        for s in sessions
    ]
    return {"people": people}
