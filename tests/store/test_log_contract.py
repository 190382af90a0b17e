"""Contract tests of the server's algorithm, run on the in-memory log and on the database.

On the database every edit goes the way the committer sends it: the commit
plan (store/commit.py) on Django's connection, then the text stored when it
is due.
"""

from datetime import timedelta

import pytest
from django.conf import settings as site_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from editor import ot
from editor.models import Document, Operation
from editor.ot import server
from editor.ot.server import Edit
from editor.store import commit, documents, drivers
from tests.documents import new_document

# The stored text catches up (and milestones are kept) every this many revisions.
COMPACT_EVERY = site_settings.EDITOR_HISTORY_MILESTONE_EVERY

MAX_CHARS = 1000


class StoredDocument:
    """A document in the database, edited as the committer edits it, read as clients are told."""

    def __init__(self, document: Document) -> None:
        self.document_id = document.pk
        self.slug = document.slug

    @property
    def rev(self) -> int:
        return documents.head(document_id=self.document_id)

    @property
    def text(self) -> str:
        return documents.snapshot(document_id=self.document_id).text

    def find(self, op_id: str) -> Operation | None:
        return Operation.objects.filter(document_id=self.document_id, op_id=op_id).first()

    def operations_since(self, rev: int) -> list[server.LoggedOperation] | None:
        return documents.operations_since(document_id=self.document_id, rev=rev)

    def accept(self, edit: Edit) -> server.Accepted:
        driver = drivers.DjangoDriver()
        [decision] = driver.run(commit.commit_plan([edit], dialect=driver.dialect, max_chars=MAX_CHARS))
        if isinstance(decision, server.EditRejected):
            raise decision
        if documents.text_due(decision.operation.rev):
            documents.store_text(slug=self.slug)
        return decision


class StoredDocumentFactory:
    def __init__(self, settings) -> None:
        self.settings = settings

    def __call__(self, text: str = "", retain: int = 1000, retain_age: int = 0) -> StoredDocument:
        self.settings.EDITOR_OPLOG_RETAIN = retain
        self.settings.EDITOR_OPLOG_RETAIN_SECONDS = retain_age
        self.settings.EDITOR_HISTORY_KEEP_DAYS = 0  # the in-memory log keeps the resume window only
        return StoredDocument(new_document(f"doc-{Document.objects.count()}", text))


@pytest.fixture(params=["memory", "database"])
def new_log(request):
    """Makes a document log with some text, in memory or in the database."""
    if request.param == "memory":
        return lambda text="", retain=1000, retain_age=0: server.MemoryLog(
            text=text, retain=retain, retain_age=retain_age
        )
    request.getfixturevalue("db")
    return StoredDocumentFactory(request.getfixturevalue("settings"))


def catch_up(log, rev: int):
    """server.catch_up on the in-memory log; what a fetch gets on the database."""
    if isinstance(log, StoredDocument):
        return log.operations_since(rev)
    return server.catch_up(log, rev)


def accept(log, op, base_rev=None, op_id="op", session="s1"):
    """server.accept on the in-memory log; the committer's way on the database."""
    base_rev = log.rev if base_rev is None else base_rev
    edit = Edit(slug="doc", base_rev=base_rev, op=op, op_id=op_id, session_id=session)
    if isinstance(log, StoredDocument):
        return log.accept(Edit(slug=log.slug, base_rev=base_rev, op=op, op_id=op_id, session_id=session))
    return server.accept(log, edit, max_chars=MAX_CHARS)


def test_accept_at_head_gives_the_next_revision(new_log):
    log = new_log("hello")
    accepted = accept(log, [5, " world"])
    assert accepted == server.Accepted(server.LoggedOperation(1, [5, " world"], "op", "s1"), False)
    assert (log.rev, log.text) == (1, "hello world")


def test_an_id_of_an_earlier_edit_is_refused_on_a_new_edit(new_log):
    """Only a resend (made before the edit was applied) may repeat an id; it gets the earlier result."""
    log = new_log("ab")
    accept(log, [2, "c"], op_id="first")
    accept(log, [3, "d"], op_id="second")
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [4, "e"], op_id="first")
    assert rejected.value.code == "duplicate-id"
    with pytest.raises(server.EditRejected):
        accept(log, [3, "e"], base_rev=1, op_id="first")  # older than the base: not a resend
    assert accept(log, [2, "c"], base_rev=0, op_id="first").duplicate
    assert (log.rev, log.text) == (2, "abcd")


def test_accept_rebases_a_stale_operation_over_what_was_committed(new_log):
    log = new_log("ac")
    accept(log, [1, "b", 1], op_id="first")
    accepted = accept(log, [2, "d"], base_rev=0, op_id="second")
    assert accepted.operation.op == [3, "d"]
    assert log.text == "abcd"


def test_same_position_inserts_keep_both_in_commit_order_reversed_for_the_later(new_log):
    """The later-committed op wins ties at the server, as the clients' transform expects."""
    log = new_log("")
    accept(log, ["A"], op_id="a")
    accept(log, ["B"], base_rev=0, op_id="b")
    assert log.text == "BA"


def test_a_resent_operation_is_recognised_and_not_applied_twice(new_log):
    log = new_log("x")
    first = accept(log, [1, "y"], op_id="same")
    again = accept(log, [1, "y"], base_rev=0, op_id="same")
    assert again == server.Accepted(first.operation, duplicate=True)
    assert (log.rev, log.text) == (1, "xy")


def test_a_resend_rebased_over_an_earlier_edit_is_still_recognised(new_log):
    """The stored operation is the rebased one: a resend rebases exactly as the first time."""
    log = new_log("ac")
    accept(log, [1, "b", 1], op_id="first")
    first = accept(log, [2, "d"], base_rev=0, op_id="second")
    accept(log, [4, "e"], base_rev=2, op_id="third")
    again = accept(log, [2, "d"], base_rev=0, op_id="second")
    assert again == server.Accepted(first.operation, duplicate=True)
    assert (log.rev, log.text) == (3, "abcde")


@pytest.mark.parametrize(
    ("op", "base_rev"),
    [([1, "z"], 0), ([1, "yy"], 0), (["y", 1], 0), ([1, -1], 0)],
    ids=["other text", "longer text", "other position", "a deletion"],
)
def test_an_id_reused_on_its_base_with_other_content_is_refused_not_acknowledged(new_log, op, base_rev):
    """Acknowledging it as a resend would tell the sender its text is in the document when it is not."""
    log = new_log("x")
    accept(log, [1, "y"], op_id="same")
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, op, base_rev=base_rev, op_id="same")
    assert rejected.value.code == "duplicate-id"
    assert (log.rev, log.text) == (1, "xy")


def test_an_id_reused_on_a_later_base_before_it_was_applied_is_refused(new_log):
    """Same content, but made on another revision than the edit with that id: not a resend."""
    log = new_log("ac")
    accept(log, [1, "b", 1], op_id="first")
    accept(log, [2, "d"], base_rev=0, op_id="second")
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [3, "d"], base_rev=0, op_id="first")
    assert rejected.value.code == "duplicate-id"
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [2, "d"], base_rev=1, op_id="second")  # would have gone elsewhere: [3, "d"]
    assert rejected.value.code == "duplicate-id"
    assert (log.rev, log.text) == (2, "abcd")


def test_future_revision_is_rejected(new_log):
    log = new_log("x")
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [1], base_rev=5)
    assert rejected.value.code == "future-revision"


def test_wrong_length_is_rejected_with_what_was_wrong(new_log):
    log = new_log("0123456789")
    with pytest.raises(server.EditRejected, match="spans 12 characters but revision 0 has 10") as rejected:
        accept(log, [12])
    assert rejected.value.code == "invalid-op"
    assert (log.rev, log.text) == (0, "0123456789")


def test_growing_past_the_limit_is_rejected_but_shrinking_is_not(new_log):
    log = new_log("x" * MAX_CHARS)
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [MAX_CHARS, "y"])
    assert rejected.value.code == "document-too-large"
    accept(log, [-1, MAX_CHARS - 1])
    assert len(log.text) == MAX_CHARS - 1


def test_catch_up_returns_missed_operations_in_order(new_log):
    log = new_log("")
    for n in range(3):
        accept(log, [n, str(n)], op_id=f"op{n}")
    missed = catch_up(log, 1)
    assert [(m.rev, m.op, m.op_id) for m in missed] == [(2, [1, "1"], "op1"), (3, [2, "2"], "op2")]
    assert catch_up(log, 3) == []
    assert catch_up(log, 4) is None


def test_compaction_keeps_recent_history_and_refuses_older_bases(new_log):
    retain = 10
    log = new_log("", retain=retain)
    total = COMPACT_EVERY  # the database log compacts on every COMPACT_EVERY-th revision
    for n in range(total):
        accept(log, [n, "x"], op_id=f"op{n}")
    assert catch_up(log, total - retain) is not None
    assert catch_up(log, total - retain - 1) is None
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, [total - retain - 1, "y"], base_rev=total - retain - 1, op_id="late")
    assert rejected.value.code == "stale-revision"
    # A recent base still merges.
    accept(log, [total - retain, "y"], base_rev=total - retain, op_id="recent")
    assert log.text.count("y") == 1


@pytest.mark.django_db
def test_database_compaction_deletes_old_rows(settings):
    settings.EDITOR_OPLOG_RETAIN = 10
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 0
    settings.EDITOR_HISTORY_KEEP_DAYS = 0
    log = StoredDocument(Document.objects.create(slug="compact"))
    for n in range(COMPACT_EVERY):
        accept(log, [n, "x"], op_id=f"op{n}")
    revisions = list(Operation.objects.values_list("rev", flat=True).order_by("rev"))
    assert revisions == list(range(COMPACT_EVERY - 9, COMPACT_EVERY + 1))


def test_compaction_keeps_young_operations_however_many(new_log):
    """Within the retention time nothing is forgotten, so in-flight edits are always recognised."""
    log = new_log("", retain=10, retain_age=3600)
    for n in range(COMPACT_EVERY):
        accept(log, [n, "x"], op_id=f"op{n}")
    assert [m.rev for m in catch_up(log, 0)] == list(range(1, COMPACT_EVERY + 1))
    assert log.find("op0") is not None


def test_catch_up_refuses_a_log_with_a_hole():
    log = server.MemoryLog()
    for n in range(4):
        accept(log, [n, "x"] if n else ["x"], op_id=f"op{n}")
    del log.operations[1]  # revision 2 is missing
    assert catch_up(log, 0) is None
    assert [m.rev for m in catch_up(log, 2)] == [3, 4]


def test_rebasing_too_much_work_under_the_lock_is_refused(new_log):
    """An edit far behind with many components would hold the document's lock for long."""
    log = new_log("x" * 600)
    for n in range(300):  # replace one x at a time
        accept(log, ot.normalize([n, -1, 599 - n]), op_id=f"op{n}")
        accept(log, ot.normalize([n, "y", 599 - n]), op_id=f"op{n}b")
    many = [1, "z"] * 599 + [1]
    with pytest.raises(server.EditRejected) as rejected:
        accept(log, many, base_rev=0, op_id="heavy")
    assert rejected.value.code == "stale-revision"
    accept(log, [1, "z", 599], base_rev=0, op_id="light")  # a small edit that far back is fine


@pytest.mark.django_db
def test_database_compaction_only_ever_removes_a_prefix(settings):
    """A row whose created_at is late (a worker's clock ahead) stops compaction before it."""
    settings.EDITOR_OPLOG_RETAIN = 10
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 60
    settings.EDITOR_HISTORY_KEEP_DAYS = 0
    document = Document.objects.create(slug="skew")
    log = StoredDocument(document)
    for n in range(COMPACT_EVERY - 1):
        accept(log, [n, "x"] if n else ["x"], op_id=f"op{n}")
    old = timezone.now() - timedelta(hours=2)
    Operation.objects.filter(document=document).update(created_at=old)
    Operation.objects.filter(document=document, rev=50).update(created_at=timezone.now())
    accept(log, [COMPACT_EVERY - 1, "x"], op_id="last")
    revisions = list(
        Operation.objects.filter(document=document).values_list("rev", flat=True).order_by("rev")
    )
    assert revisions == list(range(50, COMPACT_EVERY + 1))


@pytest.mark.django_db
def test_an_edit_writes_no_text_and_the_text_is_stored_now_and_then(settings):
    settings.EDITOR_OPLOG_RETAIN = 10
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 0
    settings.EDITOR_HISTORY_KEEP_DAYS = 0
    log = StoredDocument(new_document("lazy", "ab"))
    for n in range(COMPACT_EVERY - 1):
        with CaptureQueriesContext(connection) as queries:
            accept(log, [2 + n, "x"], base_rev=n, op_id=f"op{n}")
        statements = [query["sql"] for query in queries if "SAVEPOINT" not in query["sql"]]
        if drivers.dialect_of().one_statement_commit:
            # On the head, alone: one statement, which moves the document and stores the operation.
            assert [statement.split()[0] for statement in statements] == ["WITH"]
        else:
            # The lock (which also asks whether the id is new), an UPDATE of rev and length, an INSERT.
            assert [statement.split()[0] for statement in statements] == ["SELECT", "UPDATE", "INSERT"]
        assert not any("text" in statement for statement in statements)
    stored = Document.objects.get(slug="lazy")
    assert (stored.text, stored.snapshot_rev, stored.length) == ("ab", 0, 2 + COMPACT_EVERY - 1)
    assert log.text == "ab" + "x" * (COMPACT_EVERY - 1)
    accept(log, [2 + COMPACT_EVERY - 1, "y"], op_id="last")
    stored = Document.objects.get(slug="lazy")
    assert (stored.text, stored.snapshot_rev) == ("ab" + "x" * (COMPACT_EVERY - 1) + "y", COMPACT_EVERY)
    # Compaction kept what the history promises and everything after the stored text.
    assert Operation.objects.filter(document=stored).count() == 10


@pytest.mark.django_db
def test_edits_committed_the_locking_way_write_no_text():
    new_document("left", "ab")
    new_document("right")
    edits = [
        Edit(slug="left", base_rev=0, op=[2, "x"], op_id="l1", session_id="s1"),
        Edit(slug="right", base_rev=0, op=["y"], op_id="r1", session_id="s1"),
    ]
    driver = drivers.DjangoDriver()
    with CaptureQueriesContext(connection) as queries:
        decisions = driver.run(commit.commit_plan(edits, dialect=driver.dialect))
    statements = [query["sql"] for query in queries if "SAVEPOINT" not in query["sql"]]
    # The lock (which also asks whether the ids are new), one UPDATE of both heads, one INSERT.
    assert [statement.split()[0] for statement in statements] == ["SELECT", "UPDATE", "INSERT"]
    assert not any("text" in statement for statement in statements)
    assert [d.operation.rev for d in decisions] == [1, 1]
    assert [Document.objects.get(slug=slug).text for slug in ("left", "right")] == ["ab", ""]


@pytest.mark.django_db
@pytest.mark.logs_errors("stored length 2 at revision 1, text has 4 characters; repaired")
def test_storing_the_text_repairs_a_drifted_length_once(caplog):
    """A wrong stored length (an older worker's write) is corrected, and only once."""
    document = new_document("drift", "abc")
    accept(StoredDocument(document), [3, "d"], op_id="one")
    Document.objects.filter(pk=document.pk).update(length=2)
    documents.store_text(slug="drift")
    documents.store_text(slug="drift")  # nothing left to do: no second correction
    stored = Document.objects.get(pk=document.pk)
    assert (stored.text, stored.snapshot_rev, stored.length) == ("abcd", 1, 4)
    assert caplog.text.count("repaired") == 1
