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
import functools
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
    variants = {
        variant: functools.partial(one_round, variant == "subscribed", arguments.duration)
        for variant in ("plain", "subscribed")
    }
    compare.interleaved_rounds(
        variants, arguments.rounds, label="variant", extra=("webhooks received", "webhooks")
    )


if __name__ == "__main__":
    main()
