"""Documents as tests need them: a text at a revision, with no history behind it."""

from asgiref.sync import sync_to_async

from editor.models import Document


def new_document(slug: str, text: str = "", rev: int = 0) -> Document:
    return Document.objects.create(slug=slug, text=text, rev=rev, snapshot_rev=rev, length=len(text))


anew_document = sync_to_async(new_document)


def read_document(slug: str) -> tuple[int, str]:
    """(revision, text now) of a document, as clients would be told."""
    from editor.store import documents

    snapshot = documents.snapshot(document_id=Document.objects.get(slug=slug).pk)
    return snapshot.rev, snapshot.text


aread_document = sync_to_async(read_document)
