"""A document's history in the database (store/history.py): every revision's text and
authorship from milestones and operations, comparisons, restore and revert edits, retention.

Edits go through the one commit plan and the stored text's upkeep, as the committer runs them;
the reference is the in-memory log fed the same edits.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from editor import ot
from editor.models import Document, Milestone, Operation
from editor.ot import history as pure
from editor.ot import server
from editor.ot.server import Edit
from editor.store import commit, documents, drivers, history
from tests.documents import new_document
from tests.randomized import random_operation

pytestmark = pytest.mark.django_db

AUTHORS = ("alice", "bob", "carol")


class Typists:
    """Edits by several sessions at once, each made on a recent revision, committed as the
    committer commits them; the in-memory log gets the same ones."""

    def __init__(self, document: Document, seed: int = 7) -> None:
        self.document = document
        self.rng = random.Random(seed)
        self.reference = server.MemoryLog(text=document.text, rev=document.rev, retain=10**9)
        self.texts = {document.rev: document.text}
        self.authorship = {document.rev: pure.authored(document.text)}

    def type(self, count: int, author: str | None = None) -> None:
        for _ in range(count):
            who = author or self.rng.choice(AUTHORS)
            base = self.rng.randint(max(self.document.rev, self.reference.rev - 3), self.reference.rev)
            op = random_operation(self.rng, self.texts[base])
            edit = Edit(
                slug=self.document.slug,
                base_rev=base,
                op=op,
                op_id=f"{who}-{self.reference.rev}",
                session_id=who,
            )
            self.commit(edit)

    def commit(self, edit: Edit) -> server.LoggedOperation:
        driver = drivers.DjangoDriver()
        [decision] = driver.run(commit.commit_plan([edit], dialect=driver.dialect, max_chars=10**6))
        assert isinstance(decision, server.Accepted), decision
        expected = server.accept(self.reference, edit, max_chars=10**6)
        assert expected.operation == decision.operation
        rev = decision.operation.rev
        self.texts[rev] = self.reference.text
        self.authorship[rev] = pure.authorship_after(
            self.authorship[rev - 1], decision.operation.op, edit.session_id
        )
        if documents.text_due(rev):
            documents.store_text(slug=self.document.slug)
        return decision.operation


@pytest.fixture
def milestones_every(settings):
    settings.EDITOR_HISTORY_MILESTONE_EVERY = 10
    return 10


def test_every_revision_is_the_replay_from_the_start_with_who_wrote_each_character(milestones_every):
    typists = Typists(new_document("doc", "start"))
    typists.type(95)
    for rev in range(0, 96):
        found = history.revision(document_id=typists.document.pk, rev=rev)
        assert (found.rev, found.text) == (rev, typists.texts[rev])
        assert found.authorship == typists.authorship[rev]
    # Kept every 10 revisions, from where the history starts; the operations all kept.
    milestones = list(Milestone.objects.filter(document=typists.document).values_list("rev", flat=True))
    assert milestones == list(range(0, 91, 10))
    assert Operation.objects.filter(document=typists.document).count() == 95
    head = history.head_revision(document_id=typists.document.pk)
    assert (head.rev, head.text, head.authorship) == (95, typists.texts[95], typists.authorship[95])


def test_a_document_made_with_text_and_no_history_starts_its_history_there(milestones_every):
    document = new_document("late", "written before", rev=37)
    typists = Typists(document)
    typists.type(5)
    found = history.revision(document_id=document.pk, rev=37)
    assert (found.text, found.authorship) == ("written before", [[14, ""]])
    assert history.revision(document_id=document.pk, rev=42).text == typists.texts[42]
    with pytest.raises(history.Forgotten) as forgotten:
        history.revision(document_id=document.pk, rev=36)
    assert forgotten.value.start == 37
    with pytest.raises(history.Future) as future:
        history.revision(document_id=document.pk, rev=43)
    assert future.value.head == 42
    typists.type(10)  # revision 40 and 50 keep milestones, and 37 where it started
    assert list(Milestone.objects.filter(document=document).values_list("rev", flat=True)) == [37, 40, 50]
    assert history.revision(document_id=document.pk, rev=37).text == "written before"


def test_a_comparison_of_far_revisions_is_both_texts_and_who_did_what(milestones_every):
    typists = Typists(new_document("doc", "one two three"))
    typists.type(60)
    for start, end in [(0, 60), (3, 47), (20, 20), (59, 60)]:
        comparison = history.comparison(document_id=typists.document.pk, start=start, end=end)
        parts = pure.described(comparison.change, comparison.old.text)
        assert "".join(t for kind, t, _ in parts if kind != "+") == typists.texts[start]
        assert "".join(t for kind, t, _ in parts if kind != "-") == typists.texts[end]
        through = pure.authorship_through(typists.authorship[start], comparison.change)
        assert through == typists.authorship[end]


def test_restoring_an_old_revision_gives_its_text_on_the_head_and_is_undone_by_restoring_again(
    milestones_every,
):
    typists = Typists(new_document("doc", "the first draft"))
    typists.type(33)
    restore = history.restoring(document_id=typists.document.pk, rev=4)
    assert restore.head == 33
    assert ot.apply(typists.texts[33], restore.op) == typists.texts[4]
    typists.commit(Edit("doc", 33, restore.op, "restore-1", "dave"))
    assert documents.snapshot(document_id=typists.document.pk).text == typists.texts[4]
    # The restore is an edit like any other: restoring the revision before it takes it back.
    undo = history.restoring(document_id=typists.document.pk, rev=33)
    typists.commit(Edit("doc", 34, undo.op, "restore-2", "dave"))
    assert documents.snapshot(document_id=typists.document.pk).text == typists.texts[33]
    # Restoring the head changes nothing.
    assert ot.is_noop(history.restoring(document_id=typists.document.pk, rev=35).op)


def test_reverting_one_author_over_a_time_range_keeps_everyone_elses_characters(milestones_every):
    typists = Typists(new_document("doc", "shared text "))
    typists.type(12)
    Operation.objects.filter(document=typists.document).update(created_at=timezone.now() - timedelta(hours=2))
    since = timezone.now() - timedelta(minutes=1)
    typists.type(19)
    length = len(typists.texts[31])
    typists.commit(
        Edit("doc", 31, [length, "Bob was here"] if length else ["Bob was here"], "bob-last", "bob")
    )
    correction = history.reverting(document_id=typists.document.pk, session_ids={"bob"}, since=since)
    assert correction.head == 32
    after = pure.authorship_after(typists.authorship[32], correction.op, "reverter")
    authors_now = {author: 0 for author in AUTHORS}
    for length, author in after:
        authors_now[author] = authors_now.get(author, 0) + length
    before = {a: sum(n for n, who in typists.authorship[32] if who == a) for a in AUTHORS}
    # Bob's characters from the last minute are gone; his older ones and everyone else's stay.
    relabelled = [[n, "bob before" if who == "bob" else who] for n, who in typists.authorship[12]]
    change = history.comparison(document_id=typists.document.pk, start=12, end=32).change
    older = sum(n for n, who in pure.authorship_through(relabelled, change) if who == "bob before")
    assert authors_now["bob"] == older
    assert authors_now["bob"] < before["bob"], "bob wrote something in the last minute, now gone"
    assert (authors_now["alice"], authors_now["carol"]) == (before["alice"], before["carol"])
    nobody = history.reverting(document_id=typists.document.pk, session_ids={"erin"})
    assert ot.is_noop(nobody.op)


def test_a_retention_period_forgets_old_history_but_never_the_resume_window(settings, milestones_every):
    settings.EDITOR_HISTORY_KEEP_DAYS = 1
    settings.EDITOR_OPLOG_RETAIN = 15
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 0
    typists = Typists(new_document("doc"))
    typists.type(40)
    # All younger than a day: nothing goes.
    assert Operation.objects.filter(document=typists.document).count() == 40
    Operation.objects.filter(document=typists.document).update(created_at=timezone.now() - timedelta(days=2))
    typists.type(10)
    # Revision 50 stores the text: 50 - 15 = 35 is the newest that may go, and the history is cut
    # at the milestone before it (the text at 35 would need replaying from 30 to be kept).
    revisions = list(Operation.objects.filter(document=typists.document).values_list("rev", flat=True))
    assert revisions == list(range(31, 51))
    milestones = list(Milestone.objects.filter(document=typists.document).values_list("rev", flat=True))
    assert milestones == [30, 40, 50]
    found = history.revision(document_id=typists.document.pk, rev=30)
    assert (found.text, found.authorship) == (typists.texts[30], typists.authorship[30])
    with pytest.raises(history.Forgotten) as forgotten:
        history.revision(document_id=typists.document.pk, rev=29)
    assert forgotten.value.start == 30
    # A resuming client within the window is still told what it missed.
    assert documents.operations_since(document_id=typists.document.pk, rev=35) is not None


def test_a_retention_of_zero_days_keeps_exactly_the_resume_window(settings, milestones_every):
    settings.EDITOR_HISTORY_KEEP_DAYS = 0
    settings.EDITOR_OPLOG_RETAIN = 4
    settings.EDITOR_OPLOG_RETAIN_SECONDS = 0
    typists = Typists(new_document("doc"))
    typists.type(20)
    # At 20: 16 may go, within the operations replayed from the milestone at 10, so the cut is
    # exact and a milestone is kept there.
    revisions = list(Operation.objects.filter(document=typists.document).values_list("rev", flat=True))
    assert revisions == list(range(17, 21))
    milestones = list(Milestone.objects.filter(document=typists.document).values_list("rev", flat=True))
    assert milestones == [16, 20]
    assert history.revision(document_id=typists.document.pk, rev=16).text == typists.texts[16]
