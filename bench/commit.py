"""The cost of committing edits, in one process, on a fresh PostgreSQL database.

    python -m bench.commit            # 2,000 edits each way

Times ``services.documents_apply_operations`` (what the committer's thread
runs) for edits one at a time on the head revision of one document, and for
batches of 20 edits spread over 10 documents, and prints p50 / p99 / max per
transaction and the edits per second (edits/s includes storing the text,
which the committer does in the background every COMPACT_EVERY revisions).
No network clients, no event loop: only the database path, to compare
changes to it in isolation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from bench import targets
from bench.histogram import Histogram


def _setup() -> None:
    os.environ["DATABASE_URL"] = targets._fresh_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_site.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=targets.ROOT, check=True)
    import django

    django.setup()


def _timed(histogram: Histogram, function) -> None:
    started = time.perf_counter_ns()
    function()
    histogram.add((time.perf_counter_ns() - started) / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=2000)
    args = parser.parse_args()
    _setup()
    from editor import services
    from editor.models import Document
    from editor.storage import COMPACT_EVERY, store_text, text_due

    rows = []
    Document.objects.create(slug="alone")
    alone, upkeep = Histogram(), Histogram()
    started = time.perf_counter()
    for n in range(args.edits):
        edit = services.Edit("alone", n, [n, "x"] if n else ["x"], f"alone-{n}", "bench")
        _timed(alone, lambda edit=edit: services.documents_apply_operations(edits=[edit]))
        if text_due(n + 1):  # the committer does this in the background
            _timed(upkeep, lambda: store_text(slug="alone"))
    rows.append(("one edit on the head revision", alone, args.edits / (time.perf_counter() - started)))
    rows.append((f"storing the text (every {COMPACT_EVERY} revisions, not in an edit)", upkeep, None))

    slugs = [f"doc{d}" for d in range(10)]
    for slug in slugs:
        Document.objects.create(slug=slug)
    batched = Histogram()
    rev = dict.fromkeys(slugs, 0)
    started = time.perf_counter()
    for batch in range(args.edits // 20):
        edits = []
        for k in range(20):
            slug = slugs[k % 10]
            edits.append(
                services.Edit(slug, rev[slug], [rev[slug], "x"] if rev[slug] else ["x"], f"b{batch}-{k}", "b")
            )
            rev[slug] += 1
        _timed(batched, lambda edits=edits: services.documents_apply_operations(edits=edits))
        for slug in slugs:
            if text_due(rev[slug]):
                store_text(slug=slug)
    rows.append(("20 edits over 10 documents", batched, args.edits / (time.perf_counter() - started)))

    print("| transaction | p50 ms | p99 ms | max ms | edits/s |")
    print("|---|---|---|---|---|")
    for name, histogram, rate in rows:
        print(
            f"| {name} | {histogram.percentile(0.5) / 1000:.2f} | {histogram.percentile(0.99) / 1000:.2f} "
            f"| {histogram.max_us / 1000:.2f} | {f'{rate:.0f}' if rate else ''} |"
        )


if __name__ == "__main__":
    main()
