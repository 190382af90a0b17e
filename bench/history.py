"""What a long history costs, in one process, on a fresh PostgreSQL database.

    python -m bench.history                  # a document of 100,000 revisions
    python -m bench.history --revisions 20000

Five people type at places of their own in one document (words, and now and then a few
characters taken back), committed through the one commit plan with the stored text's upkeep
every EDITOR_HISTORY_MILESTONE_EVERY revisions, as the committer runs them. Then it times
what the history offers (store/history.py, as the API and the admin call it): the text and
authorship of a revision in the middle, a diff of two far-apart revisions, the edit that
restores an old revision, the head's authorship; and prints the bytes the database keeps per
operation and per milestone.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench.commit import setup_database

AUTHORS = 5
BATCH = 50


def _type(slug: str, revisions: int, seed: int = 3) -> None:
    """``revisions`` edits by AUTHORS sessions, each at its own place, committed in batches."""
    from django.conf import settings

    from editor.ot.server import Accepted, Edit
    from editor.store import commit, documents, drivers

    driver = drivers.DjangoDriver()
    rng = random.Random(seed)
    text_length, places = 0, [0] * AUTHORS
    rev = 0
    while rev < revisions:
        edits = []
        for _ in range(min(BATCH, revisions - rev)):
            who = rng.randrange(AUTHORS)
            place = min(places[who], text_length)
            if place > 3 and rng.random() < 0.1:
                taken = rng.randint(1, 3)
                op, change = [place - taken, -taken, text_length - place], -taken
                place -= taken
            else:
                word = rng.choice(("the ", "text ", "we ", "wrote ", "together ", "\n"))
                op, change = [place, word, text_length - place], len(word)
            op = [component for component in op if component != 0]
            edits.append(Edit(slug, rev, op, f"e{rev}", f"session-{who}"))
            for other in range(AUTHORS):
                if places[other] > place or (other == who and change > 0):
                    places[other] = max(place, places[other] + change)
            text_length += change
            rev += 1
        decisions = driver.run(commit.commit_plan(edits, dialect=driver.dialect))
        assert all(isinstance(decision, Accepted) for decision in decisions), decisions
        every = settings.EDITOR_HISTORY_MILESTONE_EVERY
        if rev // every != (rev - len(edits)) // every:
            documents.store_text(slug=slug)


def _ms(work, times: int) -> str:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return f"{statistics.median(samples):.1f} / {max(samples):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=100_000)
    parser.add_argument("--times", type=int, default=9, help="runs of each measure (median / max)")
    args = parser.parse_args()
    setup_database()
    from django.db import connection

    from editor.models import Document, Milestone, Operation
    from editor.store import history

    document = Document.objects.create(slug="long")
    started = time.perf_counter()
    _type("long", args.revisions)
    typed = time.perf_counter() - started
    document.refresh_from_db()
    head, middle = document.rev, document.rev // 2
    rng = random.Random(5)
    print(f"\n{head:,} revisions typed and stored in {typed:.0f} s; {len(document.text):,} characters now\n")
    print("| what | median / max ms |")
    print("|---|---|")
    middles = iter(rng.randint(middle - 5000, middle + 5000) for _ in range(args.times))
    rows = [
        (
            "text and authorship of a revision in the middle",
            lambda: history.revision(document_id=document.id, rev=next(middles)),
        ),
        ("text and authorship of the head", lambda: history.head_revision(document_id=document.id)),
        (
            f"diff of revisions {head // 100:,} and {head - head // 100:,}",
            lambda: history.comparison(document_id=document.id, start=head // 100, end=head - head // 100),
        ),
        (
            "the edit restoring the middle revision",
            lambda: history.restoring(document_id=document.id, rev=middle),
        ),
    ]
    for name, work in rows:
        print(f"| {name} | {_ms(work, args.times)} |")

    with connection.cursor() as cursor:
        sizes = {}
        for model in (Operation, Milestone):
            cursor.execute("SELECT pg_total_relation_size(%s)", [model._meta.db_table])
            sizes[model] = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT avg(pg_column_size(text)), avg(pg_column_size(authorship)),"
            f" avg(jsonb_array_length(authorship)) FROM {Milestone._meta.db_table}"
        )
        text_bytes, authorship_bytes, spans = cursor.fetchone()
    operations, milestones = Operation.objects.count(), Milestone.objects.count()
    print("\n| stored | count | bytes each (table and indexes) |")
    print("|---|---|---|")
    print(f"| operations | {operations:,} | {sizes[Operation] / operations:.0f} |")
    print(f"| milestones | {milestones:,} | {sizes[Milestone] / milestones:,.0f} |")
    print(
        f"\nA milestone's text: {text_bytes:,.0f} bytes on average (compressed by PostgreSQL);"
        f" its authorship: {authorship_bytes:,.0f} bytes, {spans:,.0f} spans."
    )


if __name__ == "__main__":
    main()
