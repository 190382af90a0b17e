"""Human typing with and without a webhook subscription on its document: does delivering
webhooks cost editing anything?

    python -m bench.webhooks                  # 3 rounds of each, 20 s of typing
    python -m bench.webhooks --rounds 2 --duration 10

Each round starts two fresh workers; in the "subscribed" rows the typed document has a
subscription to every event (document.changed, person.joined, person.left) with a
local receiver, which counts what it was sent. Plain and subscribed alternate, and the
medians are printed with every round.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import replace

from bench import compare, targets
from tests.webhooks.receiver import Receiver

SUBSCRIBE = """
from django.contrib.auth import get_user_model
from editor.models import Document, WebhookSubscription
from editor.webhooks import records
user = get_user_model().objects.create_user("bench-hooks")
document = Document.objects.create(slug="bench-0", owner=user, visibility="public")
records.subscribe(user=user, url={url!r}, events=list(WebhookSubscription.EVENTS), document_id=document.pk)
"""


def one_round(subscribed: bool, duration: float) -> dict:
    scenario = replace(compare.SCENARIOS["human"], duration=duration)
    with Receiver() as receiver, targets.editor(2, EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS="true") as target:
        if subscribed:
            code = SUBSCRIBE.format(url=receiver.url)
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", code],
                cwd=targets.ROOT,
                env=target.extra["env"],
                check=True,
                capture_output=True,
            )
        row = compare.measure(target, scenario, agents=2)
        row["webhooks"] = len(receiver.received)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20)
    arguments = parser.parse_args()
    rows: dict[str, list[dict]] = {"plain": [], "subscribed": []}
    print("| round | variant | p50 ms | p99 ms | lost | server CPU µs/delivery | webhooks received |")
    print("|---|---|---|---|---|---|---|")
    for round_number in range(1, arguments.rounds + 1):
        for variant in rows:
            row = one_round(variant == "subscribed", arguments.duration)
            rows[variant].append(row)
            print(
                f"| {round_number} | {variant} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['lost']} "
                f"| {row['server_cpu_us_per_delivery']:.0f} | {row['webhooks']} |",
                flush=True,
            )
    for variant, measured in rows.items():
        median = {key: statistics.median(r[key] for r in measured) for key in ("p50_ms", "p99_ms")}
        cpu = statistics.median(r["server_cpu_us_per_delivery"] for r in measured)
        print(f"| median | {variant} | {median['p50_ms']:.1f} | {median['p99_ms']:.1f} | | {cpu:.0f} | |")


if __name__ == "__main__":
    main()
