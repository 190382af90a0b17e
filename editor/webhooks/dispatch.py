"""This worker's webhooks, on its event loop: hearing of events, gathering them, sending them.

Nothing here is awaited by an edit or a connection: the committer and the
consumers call ``committed``, ``joined`` and ``left``, which look up a set
(the documents some subscription hears of, read every
EDITOR_WEBHOOK_POLL_SECONDS) and at most note the event in memory. A
document's changes are gathered for EDITOR_WEBHOOK_DEBOUNCE_SECONDS from
the first, then recorded as one delivery per subscription; deliveries go
out at once and, after a failure, when due (records.claim_due), from
whichever worker looks first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone
from standardwebhooks import Webhook

from editor.live.threads import in_thread_pool
from editor.models import WebhookSubscription
from editor.ot.server import LoggedOperation
from editor.store.drivers import database_unavailable

from . import records

logger = logging.getLogger(__name__)

# Deliveries sent at once by one worker, at most.
CONCURRENT = 10
USER_AGENT = "realtime-editor-webhooks/1"


@dataclass
class _Changes:
    """A document's commits since its last event."""

    first_rev: int
    last_rev: int
    session_ids: set[str] = field(default_factory=set)


class Dispatcher:
    """One per worker (live/worker.py ``Observer``): started and stopped with it."""

    def __init__(self) -> None:
        # None until first read: then every event is noted (and dropped when recorded, if
        # nobody hears of it), so that none is lost while a worker starts.
        self._watched: set[str] | None = None
        self._read_watched_now = False
        # With a subscription to every document of its user somewhere, a document made since
        # the last read may be heard of: each other slug is looked up once per read.
        self._new_ones_heard = False
        self._looked_up: set[str] = set()
        self._changes: dict[str, _Changes] = {}
        self._tasks: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._sending = asyncio.Semaphore(CONCURRENT)

    # What the worker calls: at once, never awaited by an edit.

    def committed(self, slug: str, operations: Sequence[LoggedOperation]) -> None:
        if not self._hears_of(slug) or not operations:
            return
        changes = self._changes.get(slug)
        if changes is None:
            changes = self._changes[slug] = _Changes(operations[0].rev, operations[-1].rev)
            self._spawn(self._gather(slug))
        changes.first_rev = min(changes.first_rev, operations[0].rev)
        changes.last_rev = max(changes.last_rev, operations[-1].rev)
        changes.session_ids.update(operation.session_id for operation in operations)

    def joined(self, slug: str, person: dict) -> None:
        self._person(slug, WebhookSubscription.PERSON_JOINED, person)

    def left(self, slug: str, person: dict) -> None:
        self._person(slug, WebhookSubscription.PERSON_LEFT, person)

    def subscribed(self, slug: str | None) -> None:
        """A subscription was made here: hear of its document now (others' are read every
        EDITOR_WEBHOOK_POLL_SECONDS)."""
        if slug is not None and self._watched is not None:
            self._watched.add(slug)
        else:  # every document its user owns: hear of all until they are read again, now
            self._watched, self._read_watched_now = None, True
        self._wake.set()

    def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=settings.EDITOR_WEBHOOK_TIMEOUT_SECONDS,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="editor-webhooks")

    async def stop(self) -> None:
        """Record what was gathered (its deliveries go from whichever worker runs next), stop."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for slug in list(self._changes):
            await self._record_changes(slug)
        if self._client is not None:
            await self._client.aclose()

    # Events

    def _hears_of(self, slug: str) -> bool:
        if self._watched is None or slug in self._watched:
            return True
        return self._new_ones_heard and slug not in self._looked_up

    def _person(self, slug: str, event: str, person: dict) -> None:
        if self._hears_of(slug):
            self._spawn(self._record(records.record_person, slug=slug, event=event, person=person))

    async def _gather(self, slug: str) -> None:
        await asyncio.sleep(settings.EDITOR_WEBHOOK_DEBOUNCE_SECONDS)
        await self._record_changes(slug)

    async def _record_changes(self, slug: str) -> None:
        changes = self._changes.pop(slug, None)
        if changes is not None:
            await self._record(
                records.record_change,
                slug=slug,
                first_rev=changes.first_rev,
                last_rev=changes.last_rev,
                session_ids=sorted(changes.session_ids),
            )

    async def _record(self, record, **event) -> None:
        try:
            if await in_thread_pool(record)(**event):
                self._wake.set()
            elif self._watched is not None:
                self._looked_up.add(event["slug"])  # nobody hears of it: not again until the next read
        except Exception as error:
            if not database_unavailable(error):
                logger.exception("could not record a webhook event for %s", event.get("slug"))
                return
            logger.warning(
                "webhooks: an event for %s is lost, the database is away (%s)", event.get("slug"), error
            )

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._tasks.discard)

    # Sending

    async def _run(self) -> None:
        """Every EDITOR_WEBHOOK_POLL_SECONDS, or at once when woken: what is watched, what is due."""
        refreshed = float("-inf")
        while True:
            try:
                if (
                    self._read_watched_now
                    or time.monotonic() - refreshed >= settings.EDITOR_WEBHOOK_POLL_SECONDS
                ):
                    self._read_watched_now = False
                    self._watched, self._new_ones_heard = await in_thread_pool(records.watched)()
                    self._looked_up = set()
                    refreshed = time.monotonic()
                for due in await in_thread_pool(records.claim_due)(most=CONCURRENT * 5):
                    self._spawn(self._send(due))
            except Exception as error:  # the database away, most likely: next time
                logger.warning("webhooks: could not read what is due: %s", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.EDITOR_WEBHOOK_POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def _send(self, due: records.Due) -> None:
        async with self._sending:
            status, error = None, ""
            try:
                await self._check_address(due.url)
                timestamp = timezone.now()
                signature = Webhook(due.secret).sign(due.message_id, timestamp, due.body)
                response = await self._client.post(
                    due.url,
                    content=due.body.encode(),
                    headers={
                        "content-type": "application/json",
                        "webhook-id": due.message_id,
                        "webhook-timestamp": str(int(timestamp.timestamp())),
                        "webhook-signature": signature,
                    },
                )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"answered {status}"
            except Exception as failure:  # whatever the receiver, or its URL, did: the outcome is recorded
                error = f"{type(failure).__name__}: {failure}"[:300] or "failed"
            if error:
                logger.info("webhook %s to %s, try %d: %s", due.message_id, due.url, due.attempts, error)
            try:
                await in_thread_pool(records.record_outcome)(due, status=status, error=error)
            except Exception as failure:  # due again when its lease ends: sent twice, never lost
                logger.warning("webhook %s: could not record its outcome: %s", due.message_id, failure)
            if error:
                self._wake_when_due(due.attempts)

    def _wake_when_due(self, attempts: int) -> None:
        pauses = settings.EDITOR_WEBHOOK_RETRY_SECONDS
        if attempts <= len(pauses) and pauses[attempts - 1] < settings.EDITOR_WEBHOOK_POLL_SECONDS:
            asyncio.get_running_loop().call_later(pauses[attempts - 1], self._wake.set)

    @staticmethod
    async def _check_address(url: str) -> None:
        """The receiver's host resolves to public addresses only, unless private ones are allowed."""
        if settings.EDITOR_WEBHOOK_ALLOW_PRIVATE_URLS:
            return
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for *_, address in await asyncio.get_running_loop().getaddrinfo(parts.hostname, port):
            if not ipaddress.ip_address(address[0]).is_global:
                raise records.UnsafeUrl(f"{parts.hostname} resolves to a private address")
