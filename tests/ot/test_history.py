"""History's pure half (editor/ot/history.py) under random concurrent edits by several authors.

The reference everything is checked against is a text of tagged characters: each character
carries the author of the insert that made it, and operations are applied to that list one
character at a time, by code that shares nothing with the module's spans and changes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from editor import ot
from editor.ot import history, server
from tests.strategies import operations, texts

settings.register_profile("history", max_examples=300, derandomize=True, deadline=None)
settings.load_profile("history")

AUTHORS = ("alice", "bob", "carol")


def tagged_apply(tagged: list[tuple[str, str]], op: ot.Operation, author: str) -> list[tuple[str, str]]:
    """The reference: ``op`` applied to (character, author) pairs."""
    out, position = [], 0
    for component in op:
        if type(component) is str:
            out += [(character, author) for character in component]
        elif component > 0:
            out += tagged[position : position + component]
            position += component
        else:
            position -= component
    return out + tagged[position:]


def spans_of(tagged: list[tuple[str, str]]) -> history.Spans:
    """The reference's authorship, as spans."""
    spans: history.Spans = []
    for _, author in tagged:
        if spans and spans[-1][1] == author:
            spans[-1][0] += 1
        else:
            spans.append([1, author])
    return spans


@st.composite
def concurrent_histories(draw, most: int = 12):
    """A document's log after several authors typed at once: each edit made on a revision its
    author had seen (not always the head) and rebased by the server, as the real ones are."""
    start = draw(texts)
    log = server.MemoryLog(text=start, retain=10**6)
    texts_at = [start]
    for number in range(draw(st.integers(min_value=1, max_value=most))):
        author = draw(st.sampled_from(AUTHORS))
        base = draw(st.integers(min_value=max(0, log.rev - 3), max_value=log.rev))
        op = draw(operations(texts_at[base]))
        edit = server.Edit(slug="doc", base_rev=base, op=op, op_id=f"e{number}", session_id=author)
        server.accept(log, edit, max_chars=10**6)
        texts_at.append(log.text)
    logged = [operation for _, operation in log.operations]
    return start, logged, texts_at


@given(concurrent_histories())
def test_authorship_of_every_character_is_the_author_of_its_insert(case):
    start, logged, _ = case
    tagged = [(character, "") for character in start]
    spans = history.authored(start)
    for operation in logged:
        tagged = tagged_apply(tagged, operation.op, operation.session_id)
        spans = history.authorship_after(spans, operation.op, operation.session_id)
        assert spans == spans_of(tagged)
    composed = history.authorship_over(history.authored(start), [(o.op, o.session_id) for o in logged])
    assert composed == spans


@given(concurrent_histories(), st.data())
def test_a_change_between_any_two_revisions_is_both_texts_and_who_did_what(case, data):
    _, logged, texts_at = case
    a = data.draw(st.integers(min_value=0, max_value=len(logged)))
    b = data.draw(st.integers(min_value=a, max_value=len(logged)))
    between = logged[a:b]
    change = history.change_over([history.change_of(o.op, o.session_id) for o in between], len(texts_at[a]))
    parts = history.described(change, texts_at[a])
    assert "".join(text for kind, text, _ in parts if kind != "+") == texts_at[a]
    assert "".join(text for kind, text, _ in parts if kind != "-") == texts_at[b]
    # Every inserted character is shown with the author the reference gives it at B, and every
    # character that was at A and is still at B is kept, not deleted and inserted again.
    tagged = [(character, "") for character in texts_at[a]]
    for operation in between:
        tagged = tagged_apply(tagged, operation.op, operation.session_id)
    shown = [(c, author) for kind, text, author in parts if kind != "-" for c in text]
    inserted_at_b = [(c, a) for c, a in tagged if a]
    assert [(c, a) for c, a in shown if a is not None] == inserted_at_b
    # Authorship through the composed change is the authorship through each operation.
    spans = history.authored(texts_at[a])
    for operation in between:
        spans = history.authorship_after(spans, operation.op, operation.session_id)
    assert history.authorship_through(history.authored(texts_at[a]), change) == spans


@given(concurrent_histories(), st.data())
def test_restoring_a_revision_gives_its_text_and_leaves_unchanged_text_to_its_authors(case, data):
    start, logged, texts_at = case
    rev = data.draw(st.integers(min_value=0, max_value=len(logged)))
    head_text = texts_at[-1]
    change = history.change_over(
        [history.change_of(o.op, o.session_id) for o in logged[rev:]], len(texts_at[rev])
    )
    op = history.restoring(change, texts_at[rev])
    assert ot.apply(head_text, op) == texts_at[rev]
    # What was already there at both revisions is not touched: its authors stay.
    head_spans = history.authored(start)
    for operation in logged:
        head_spans = history.authorship_after(head_spans, operation.op, operation.session_id)
    restored = history.authorship_after(head_spans, op, "restorer")
    kept = sum(value for kind, value, _ in change if kind == "=")
    assert sum(length for length, author in restored if author != "restorer") == kept


@given(concurrent_histories(most=14), st.sampled_from(AUTHORS), st.data())
def test_reverting_one_authors_edits_leaves_everyone_elses_inserted_characters(case, reverted, data):
    start, logged, texts_at = case
    first = data.draw(st.integers(min_value=0, max_value=len(logged)))
    last = data.draw(st.integers(min_value=first, max_value=len(logged)))
    in_range = {o.rev for o in logged[first:last] if o.session_id == reverted}
    op = history.reverting(texts_at[first], [(o.op, o.rev in in_range) for o in logged[first:]])
    tagged = [(character, "") for character in start]
    for operation in logged:
        tagged = tagged_apply(tagged, operation.op, operation.session_id)
    after = tagged_apply(tagged, op, "reverter")
    # The reverted author's characters from the range are gone, everyone else's are all there,
    # in the order they were in.
    replay = [(character, "", None) for character in start]
    for operation in logged:
        out, position = [], 0
        for component in operation.op:
            if type(component) is str:
                out += [(c, operation.session_id, operation.rev) for c in component]
            elif component > 0:
                out += replay[position : position + component]
                position += component
            else:
                position -= component
        replay = out + replay[position:]
    survivors = [(c, who) for c, who, rev in replay if rev not in in_range]
    assert [(c, who) for c, who in after if who != "reverter"] == survivors
    # Nothing at all to take back: the operation changes nothing.
    if not in_range:
        assert ot.is_noop(op)


@given(concurrent_histories(most=8))
def test_reverting_everything_an_author_did_alone_gives_the_text_before(case):
    start, logged, texts_at = case
    solo = [server.LoggedOperation(o.rev, o.op, o.op_id, "alice") for o in logged]
    op = history.reverting(start, [(o.op, True) for o in solo])
    assert ot.apply(texts_at[-1], op) == start
