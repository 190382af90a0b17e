"""Close editing sessions whose worker died, like ``clearsessions`` for the editor; forget the
HTTP API's expired Idempotency-Key answers and week-old finished webhook deliveries.

Every running worker does this on its own every EDITOR_HEARTBEAT_SECONDS;
this command is for when none is running (after a crash of everything), or
for cron.
"""

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand

from editor import services
from editor.api import idempotency
from editor.live import liveness
from editor.webhooks import records


class Command(BaseCommand):
    help = "Close editing sessions nobody has vouched for within EDITOR_SESSION_TIMEOUT_SECONDS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds without a heartbeat (default: EDITOR_SESSION_TIMEOUT_SECONDS)",
        )

    def handle(self, *args, timeout=None, **options):
        closed = services.sessions_expire(timeout_seconds=timeout or settings.EDITOR_SESSION_TIMEOUT_SECONDS)
        if closed:
            async_to_sync(liveness.announce_closed)(closed)
        self.stdout.write(f"closed {len(closed)} session(s)")
        # The API's leftovers: answers kept for Idempotency-Key repeats, and the delivery log.
        self.stdout.write(f"forgot {idempotency.forget_expired()} idempotent answer(s)")
        self.stdout.write(f"forgot {records.forget_finished()} finished webhook delivery(ies)")
