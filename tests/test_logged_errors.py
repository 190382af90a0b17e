"""The suite's own guard: an exception logged by the code under test fails the test (conftest.py)."""

import logging
import sys

import pytest

from tests.conftest import LoggedErrors

DAPHNE_LOG = """\
2026-12-01 19:42:18,500 INFO     Listening on TCP address 127.0.0.1:41234
2026-12-01 19:42:18,500 WARNING editor.store.commit a batch of 1 edits failed; retrying them one by one
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ConnectionError: gone
2026-12-01 19:42:18,510 ERROR editor.store.commit edit poison to doc failed
2026-12-01 19:42:19,000 INFO editor.consumers connect doc=doc
"""


def test_an_unexpected_error_fails_the_check():
    errors = LoggedErrors()
    errors.emit(logging.LogRecord("editor.hub", logging.ERROR, __file__, 1, "broadcast failed", (), None))
    with pytest.raises(AssertionError, match="broadcast failed"):
        errors.check(())
    errors.check(("broadcast failed",))


def test_a_warning_with_a_traceback_counts_and_a_plain_warning_does_not():
    errors = LoggedErrors()
    errors.emit(logging.LogRecord("editor.x", logging.WARNING, __file__, 1, "just saying", (), None))
    assert errors.messages == []
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("editor.x", logging.WARNING, __file__, 1, "retrying", (), sys.exc_info())
    errors.emit(record)
    assert errors.messages == ["editor.x: retrying"]


def test_an_expected_error_that_was_not_logged_fails_the_check():
    with pytest.raises(AssertionError, match="were not logged"):
        LoggedErrors().check(("retrying them one by one",))


def test_a_server_process_log_gives_its_errors_and_the_lines_tracebacks_follow():
    errors = LoggedErrors()
    errors.add_process_log("worker-0", DAPHNE_LOG)
    assert errors.messages == [
        "worker-0: editor.store.commit a batch of 1 edits failed; retrying them one by one",
        "worker-0: editor.store.commit edit poison to doc failed",
    ]
