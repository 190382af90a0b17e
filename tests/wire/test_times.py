"""Times in frames and API bodies (wire/protocol.py parse_time): RFC 3339 with its offset,
nothing else ISO 8601 or datetime.fromisoformat would take, and always in UTC."""

from datetime import UTC, datetime

import pytest

from editor.wire.protocol import parse_time


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-03T10:00:00Z", datetime(2026, 12, 3, 10, tzinfo=UTC)),
        ("2026-12-03t10:00:00z", datetime(2026, 12, 3, 10, tzinfo=UTC)),
        ("2026-12-03T10:00:00.5+01:00", datetime(2026, 12, 3, 9, 0, 0, 500_000, tzinfo=UTC)),
        ("2026-12-03T10:00:00.123456-14:00", datetime(2026, 12, 4, 0, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_rfc_3339_times_are_read_in_utc(text, utc):
    moment = parse_time(text)
    assert moment == utc
    assert moment.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03T10:00:00",  # no offset
        "2026-12-03 10:00:00Z",  # a space
        "2026-W49-4T10:00:00Z",  # a week date
        "20261203T100000Z",  # the basic format
        "2026-12-03T10Z",  # an hour alone
        "2026-12-03T10:00Z",  # no seconds
        "2026-12-03T10:00:00,5Z",  # a comma
        "2026-12-03T10:00:00.1234567Z",  # past microseconds
        "2026-12-03T10:00:00+01:00:30",  # an offset with seconds
        "2026-02-30T10:00:00Z",  # no such day
        "0001-01-01T00:00:00+14:00",  # before the first year there is, in UTC
        1764756000,
        None,
    ],
)
def test_anything_else_is_refused_with_what_a_time_is(text):
    with pytest.raises(ValueError, match=r"RFC 3339|not a time there is"):
        parse_time(text)
