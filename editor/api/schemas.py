"""The API's request and response bodies; the OpenAPI description is made from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt, StrictStr

from editor.wire import protocol

SLUG = rf"^{protocol.SLUG_PATTERN}$"
Revision = Annotated[StrictInt, Field(ge=0, le=protocol.MAX_REVISION)]
# Text a database stores (no NUL); lone surrogates, which JSON can carry, are refused on reading.
Text = Annotated[StrictStr, Field(pattern=r"^[^\x00]*$")]
Component = StrictInt | StrictStr


class Body(Schema):
    """A request body: exactly its fields (a misspelt one is refused, not ignored), of their types."""

    model_config = ConfigDict(extra="forbid")


Visibility = Literal["public", "view-only", "private"]


class Problem(Schema):
    """RFC 9457 problem details; ``code`` is the protocol's error code (docs/protocol.md)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


# Every status a refusal may have, for each operation's responses (a status an operation
# cannot answer with is still listed: which ones it can is what docs/api.md's table says).
PROBLEMS = {status: Problem for status in (400, 401, 403, 404, 409, 410, 412, 413, 422, 428, 429, 503)}


class DocumentSummary(Schema):
    slug: str
    rev: Revision
    length: int
    visibility: Visibility
    last_change: datetime = Field(description="When the last edit was committed (or the document made).")
    people: int = Field(description="Connections open on it now, across every worker.")


class DocumentPage(Schema):
    items: list[DocumentSummary]
    count: int = Field(description="Documents you can see, in all.")
    next: str | None = Field(description="The next page's URL; null on the last page.")


class DocumentIn(Body):
    slug: StrictStr = Field(pattern=SLUG)
    text: Text = ""
    visibility: Visibility | None = Field(
        None, description="What everyone else may do; EDITOR_NEW_DOCUMENT_VISIBILITY when left out."
    )


class DocumentOut(Schema):
    slug: str
    rev: Revision
    text: str
    length: int


class Written(Schema):
    """An edit committed (or found committed: a repeat): the revision it made, and its id."""

    rev: Revision
    id: str


class OperationIn(Body):
    """An edit exactly as the socket's ``op`` frame carries it (docs/protocol.md)."""

    rev: Revision
    op: list[Component] = Field(description="retain n (> 0), insert s, delete n (< 0), over the whole text")
    id: StrictStr = Field(
        pattern=protocol.OP_ID.pattern.join("^$"),
        description="1 to 80 printable ASCII characters; a repeat with the same id is the same edit",
    )


class AppendIn(Body):
    text: Text = Field(min_length=1)


class InsertIn(Body):
    position: StrictInt = Field(
        ge=0, le=protocol.MAX_SPAN, description="Characters before it, at revision rev."
    )
    text: Text = Field(min_length=1)
    rev: Revision


class TextIn(Body):
    text: Text


class LoggedOperationOut(Schema):
    rev: Revision
    op: list[int | str]
    id: str
    author: str | None = Field(description="The user name of who made it (null: nobody signed in).")


class OperationPage(Schema):
    rev: Revision = Field(description="The document's latest revision.")
    operations: list[LoggedOperationOut]
    next: int | None = Field(
        description="The ``since`` of the next page; null when this one reaches the head."
    )


class Person(Schema):
    session: str
    name: str
    signed_in: bool
    since: datetime


class People(Schema):
    people: list[Person]
