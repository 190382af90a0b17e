"""The cost of committing edits, in one process, on a fresh PostgreSQL database.

    python -m bench.commit            # 2,000 edits each way

Times the one commit plan (store/commit.py) through both of the committer's
drivers: Django's connection (``drivers.DjangoDriver``, what it runs in a
thread on databases other than PostgreSQL) and the asynchronous PostgreSQL
connection (``drivers.PsycopgDriver``, what it runs on PostgreSQL), for
edits one at a time on the head revision of one document, and for batches
of 20 edits spread over 10 documents. Prints p50 /
p99 / max per transaction and the edits per second (edits/s includes storing
the text, which the committer does in the background every EDITOR_HISTORY_MILESTONE_EVERY
revisions). No network clients: only the database path, to compare changes
to it in isolation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from bench import targets
from bench.histogram import Histogram


def setup_database() -> None:
    """A fresh bench database, migrated, and Django set up on it."""
    os.environ["DATABASE_URL"] = targets._fresh_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_site.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=targets.ROOT, check=True)
    import django

    django.setup()


def _time_runner(name: str, apply, *, edits_total: int) -> list[tuple]:
    """One edit at a time on the head of one document, then batches of 20 over 10 documents."""
    from django.conf import settings

    from editor.models import Document
    from editor.ot.server import Edit
    from editor.store.documents import store_text, text_due

    every = settings.EDITOR_HISTORY_MILESTONE_EVERY

    rows = []
    Document.objects.create(slug=f"{name}-alone")
    alone, upkeep = Histogram(), Histogram()
    started = time.perf_counter()
    for n in range(edits_total):
        edit = Edit(f"{name}-alone", n, [n, "x"] if n else ["x"], f"alone-{n}", "bench")
        alone.add(apply([edit]))
        if text_due(n + 1):  # the committer does this in the background
            begun = time.perf_counter_ns()
            store_text(slug=f"{name}-alone")
            upkeep.add((time.perf_counter_ns() - begun) / 1000)
    rate = edits_total / (time.perf_counter() - started)
    rows.append((name, "one edit on the head revision", alone, rate))
    upkeep_name = f"storing the text and a milestone (every {every} revisions, not in an edit)"
    rows.append((name, upkeep_name, upkeep, None))

    slugs = [f"{name}-doc{d}" for d in range(10)]
    for slug in slugs:
        Document.objects.create(slug=slug)
    batched = Histogram()
    rev = dict.fromkeys(slugs, 0)
    started = time.perf_counter()
    for batch in range(edits_total // 20):
        edits = []
        for k in range(20):
            slug = slugs[k % 10]
            op = [rev[slug], "x"] if rev[slug] else ["x"]
            edits.append(Edit(slug, rev[slug], op, f"b{batch}-{k}", "b"))
            rev[slug] += 1
        batched.add(apply(edits))
        for slug in slugs:
            if text_due(rev[slug]):
                store_text(slug=slug)
    rows.append((name, "20 edits over 10 documents", batched, edits_total / (time.perf_counter() - started)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=2000)
    args = parser.parse_args()
    setup_database()
    from editor.store import commit, drivers

    django_driver = drivers.DjangoDriver()

    def through_django(edits) -> float:
        begun = time.perf_counter_ns()
        django_driver.run(commit.commit_plan(edits, dialect=django_driver.dialect))
        return (time.perf_counter_ns() - begun) / 1000

    loop = asyncio.new_event_loop()
    psycopg_driver = drivers.PsycopgDriver()

    def through_psycopg_async(edits) -> float:
        begun = time.perf_counter_ns()
        loop.run_until_complete(psycopg_driver.run(commit.commit_plan(edits, dialect=psycopg_driver.dialect)))
        return (time.perf_counter_ns() - begun) / 1000

    rows = _time_runner("django", through_django, edits_total=args.edits)
    rows += _time_runner("async", through_psycopg_async, edits_total=args.edits)
    loop.run_until_complete(psycopg_driver.close())

    print("| connection | transaction | p50 ms | p99 ms | max ms | edits/s |")
    print("|---|---|---|---|---|---|")
    for name, what, histogram, rate in rows:
        connection = {"django": "Django's, in a thread", "async": "psycopg's asynchronous"}[name]
        print(
            f"| {connection} | {what} | {histogram.percentile(0.5) / 1000:.2f} "
            f"| {histogram.percentile(0.99) / 1000:.2f} "
            f"| {histogram.max_us / 1000:.2f} | {f'{rate:.0f}' if rate else ''} |"
        )


if __name__ == "__main__":
    main()
