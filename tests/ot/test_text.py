"""The pure OT module: properties under random Unicode documents and edits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor import ot
from tests.strategies import document_and_operation, document_and_two_operations, operations, texts

settings.register_profile("ot", max_examples=300, derandomize=True)
settings.load_profile("ot")


@given(document_and_two_operations())
def test_transform_converges(case):
    """apply(apply(S, a), b') == apply(apply(S, b), a')."""
    text, a, b = case
    a_prime, b_prime = ot.transform(a, b)
    assert ot.apply(ot.apply(text, a), b_prime) == ot.apply(ot.apply(text, b), a_prime)


@given(document_and_two_operations())
def test_transform_keeps_every_insert(case):
    """Concurrent edits never lose an inserted character: both inserts survive transform."""
    _text, a, b = case
    a_prime, b_prime = ot.transform(a, b)

    def inserted(op):
        return "".join(c for c in op if isinstance(c, str))

    assert inserted(a_prime) == inserted(a)
    assert inserted(b_prime) == inserted(b)


@given(st.data())
def test_compose_matches_sequential_apply(data):
    text, a = data.draw(document_and_operation())
    middle = ot.apply(text, a)
    b = data.draw(operations(middle))
    assert ot.apply(text, ot.compose(a, b)) == ot.apply(middle, b)


@given(document_and_operation())
def test_apply_length_and_canonical_form(case):
    text, op = case
    assert len(ot.apply(text, op)) == ot.target_length(op)
    assert ot.base_length(op) == len(text)
    assert ot.normalize(op) == op
    assert ot.parse(op) == op


@given(texts, texts)
def test_from_diff_round_trips(old, new):
    op = ot.from_diff(old, new)
    assert ot.apply(old, op) == new
    assert ot.parse(op) == op


def _prefix_edit(text: str, op: ot.Operation, index: int) -> str:
    """What ``op`` does to the text before ``index``: its inserts strictly before it, its deletes up to it."""
    result, position = [], 0
    for component in op:
        if type(component) is str:
            if position < index:
                result.append(component)
        elif component > 0:
            result.append(text[position : min(position + component, index)])
            position += component
        else:
            position -= component
        if position >= index and type(component) is not str:
            break
    return "".join(result)


@given(document_and_operation(), st.integers(min_value=0, max_value=30))
def test_transform_index_keeps_the_caret_after_exactly_what_came_before_it(case, raw_index):
    """The text before the moved caret is the text before the old caret, edited."""
    text, op = case
    index = min(raw_index, len(text))
    moved = ot.transform_index(index, op)
    result = ot.apply(text, op)
    assert 0 <= moved <= len(result)
    assert result[:moved] == _prefix_edit(text, op, index)


@given(document_and_operation())
def test_invert_undoes(case):
    text, op = case
    assert ot.apply(ot.apply(text, op), ot.invert(op, text)) == text


def test_lengths_count_code_points_not_utf16_units():
    text = "a😀b"  # 3 code points, 4 UTF-16 units, 6 UTF-8 bytes
    assert ot.apply(text, [2, "!", 1]) == "a😀!b"
    assert ot.apply(text, [1, -1, 1]) == "ab"


def test_transform_index_examples():
    assert ot.transform_index(3, [1, "xx", 4]) == 5  # insert before the caret moves it
    assert ot.transform_index(3, [3, "xx", 2]) == 3  # insert at the caret does not
    assert ot.transform_index(3, [3, "xx", 2], own=True) == 5  # unless it was typed there
    assert ot.transform_index(3, [1, -3, 1]) == 1  # deleting across the caret pulls it back
    assert ot.transform_index(3, [4, -1]) == 3  # deleting after it leaves it


def test_insert_ties_go_to_the_first_operation():
    a_prime, b_prime = ot.transform([1, "A", 1], [1, "B", 1])
    assert ot.apply(ot.apply("xy", [1, "A", 1]), b_prime) == "xABy"
    assert ot.apply(ot.apply("xy", [1, "B", 1]), a_prime) == "xABy"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "a list of components"),
        ([0], "component 0 is 0"),
        ([1, ""], "component 1 inserts an empty string"),
        ([1, 2.5], "component 1 is float"),
        ([True], "component 0 is bool"),
        ([None], "component 0 is NoneType"),
        ([{"insert": "x"}], "component 0 is dict"),
    ],
)
def test_parse_rejects_malformed_operations_with_a_reason(raw, message):
    with pytest.raises(ot.OperationError, match=message):
        ot.parse(raw)


def test_parse_returns_canonical_form():
    assert ot.parse([1, 1, "a", "b", -1, -1]) == [2, "ab", -2]
    assert ot.parse([1, -1, "a", 1]) == [1, "a", -1, 1]


def test_apply_refuses_an_operation_of_the_wrong_length():
    with pytest.raises(ot.OperationError, match="spans 12 characters but the document has 10"):
        ot.apply("0123456789", [12])


def test_compose_and_transform_refuse_mismatched_lengths():
    with pytest.raises(ot.OperationError, match="cannot compose"):
        ot.compose([1, "a"], [1])
    with pytest.raises(ot.OperationError, match="cannot transform"):
        ot.transform([1], [2])
