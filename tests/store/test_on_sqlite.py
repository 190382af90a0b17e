"""The store's tests again, on SQLite: development runs the same commit plan as production."""

import re
import subprocess
import sys

import pytest

from tests import servers


@pytest.mark.timeout(300)
def test_the_store_passes_its_tests_on_sqlite(tmp_path):
    env = {**servers.server_environment(), "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}"}
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        env.pop(name)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-m", "not postgresql", "tests/store", "--ignore", __file__],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    passed = set(re.findall(r"::(\S+) PASSED", done.stdout))
    # The commit algorithm on Django's driver, alone and in batches, against ot.server in memory.
    assert {
        "test_random_batches_give_what_the_algorithm_gives_one_edit_after_another[django-1]",
        "test_random_batches_give_what_the_algorithm_gives_one_edit_after_another[django-2]",
        "test_edits_committed_the_locking_way_write_no_text",
        "test_compaction_keeps_recent_history_and_refuses_older_bases[database]",
    } <= passed
    assert not any("postgres" in name for name in passed)
    assert " skipped" not in done.stdout
