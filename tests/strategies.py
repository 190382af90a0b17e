"""Hypothesis strategies for documents and operations, shared by the OT tests."""

from hypothesis import strategies as st

from editor import ot

# Text that exercises what breaks naive editors: astral characters (emoji),
# combining marks, CJK, CRLF line ends; no lone surrogates, as in real text.
pieces = st.one_of(
    st.sampled_from(["a", "b", " ", "\n", "\r\n", "\t"]),
    st.sampled_from(["😀", "👍🏽", "𝄞", "é", "e\u0301", "漢", "字", "\u200d"]),
    st.characters(codec="utf-8"),
)
texts = st.lists(pieces, max_size=20).map("".join)


@st.composite
def operations(draw, text: str) -> ot.Operation:
    """A random operation over ``text``: retains, inserts and deletes in any mix."""
    components: list[ot.Component] = []
    remaining = len(text)
    while remaining > 0 or draw(st.booleans()):
        kind = draw(st.sampled_from(["retain", "insert", "delete"]))
        if kind == "insert":
            components.append(draw(texts.filter(bool)))
        elif remaining > 0:
            count = draw(st.integers(min_value=1, max_value=remaining))
            components.append(count if kind == "retain" else -count)
            remaining -= count
        if remaining == 0 and not draw(st.booleans()):
            break
    return ot.normalize(components)


@st.composite
def document_and_operation(draw):
    text = draw(texts)
    return text, draw(operations(text))


@st.composite
def document_and_two_operations(draw):
    text = draw(texts)
    return text, draw(operations(text)), draw(operations(text))
