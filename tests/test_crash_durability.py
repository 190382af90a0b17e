"""A worker SIGKILLed the moment it acknowledged edits loses none of them, and applies none twice.

An ``ack`` is sent only once its edit is committed (docs/protocol.md). Here
the worker gets no polite stop: it is killed from inside the tab's frame
handler, right as the ack arrives (or as the edit's broadcast shows it was
committed), then the document is read fresh from the database and through a
worker that never served the document, which knows nothing but what was stored.
"""

import asyncio
import os
import random
import signal

import pytest

from editor import ot
from editor.models import Document, Operation
from tests.documents import aread_document
from tests.faultytab import FaultyTab, Scene
from tests.randomized import Keystrokes

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

BURST = 40  # keystrokes typed fast: a few become each acknowledged edit
IN_FLIGHT = "✓"  # the edit in flight when the worker dies


async def type_burst(tab: FaultyTab, seed: int) -> list[str]:
    """BURST keystrokes at a fast typist's pace, acks coming back meanwhile; returns the kept characters.

    Returns right after the last keystroke, before its edit can be acknowledged.
    """
    rng = random.Random(seed)
    typist = Keystrokes(rng, 0)
    for n in range(BURST):
        if n:
            await asyncio.sleep(rng.uniform(0.001, 0.008))  # typing speed, not synchronisation
        tab.type(typist.edit(tab.text))
    return typist.inserted


async def stored(slug: str) -> tuple[Document, list[tuple[int, str]]]:
    """The document's row and its operations' (rev, op_id), read fresh from the database."""
    document = await Document.objects.aget(slug=slug)
    operations = Operation.objects.filter(document=document).order_by("rev").values_list("rev", "op_id")
    return document, [row async for row in operations]


async def start_two(start_worker) -> tuple:
    """Worker A, and B that serves nothing until after A's crash (started together, to save time)."""
    return await asyncio.gather(asyncio.to_thread(start_worker, "a"), asyncio.to_thread(start_worker, "b"))


def freeze(worker) -> None:
    """SIGSTOP the worker and return once it is stopped (its parent, this process, is told)."""
    worker.process.send_signal(signal.SIGSTOP)
    _, status = os.waitpid(worker.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)


async def test_every_edit_acknowledged_before_a_sigkill_is_in_the_database_once(start_worker):
    """Killed right after the last of several quick acks: every acked edit stored once, nothing else."""
    worker_a, worker_b = await start_two(start_worker)
    slug = "killed-after-ack"
    scene = Scene()
    writer = FaultyTab(scene, [worker_a.ws_url], slug, "writer")
    await writer.connect()
    finished_typing = False
    at_kill: dict = {}

    def kill_after_the_last_ack(frame: dict) -> None:
        # In the frame handler itself: no await between the ack and the kill.
        if (
            finished_typing
            and frame["type"] == "ack"
            and writer.client.state == "synchronised"
            and not at_kill
        ):
            worker_a.kill()
            at_kill.update(
                rev=writer.client.rev, text=writer.text, acknowledged=list(writer.client.acknowledged)
            )

    writer.on_frame = kill_after_the_last_ack
    typed = await type_burst(writer, seed=1)
    finished_typing = True  # the last keystroke is not acknowledged yet: its ack triggers the kill
    await scene.wait_for(lambda: at_kill and not writer.connected, what="the kill after the last ack")

    acknowledged = at_kill["acknowledged"]
    assert len(acknowledged) >= 5, "several edits should have been acknowledged in quick succession"
    # Fresh from the database: the text and revision the tab was last told, built from stored rows.
    assert await aread_document(slug) == (at_kill["rev"], at_kill["text"])
    document, operations = await stored(slug)
    assert (document.rev, document.length) == (at_kill["rev"], len(at_kill["text"]))
    # Exactly the acknowledged edits, each at the revision its ack gave, nothing unacknowledged.
    assert operations == [(writer.ack_revs[op_id], op_id) for op_id in acknowledged]
    assert {char: at_kill["text"].count(char) for char in typed} == dict.fromkeys(typed, 1)

    # Another worker, which never served the document, gives a newcomer the same text,
    # and the tab resumes there with nothing to catch up on.
    reader = FaultyTab(scene, [worker_b.ws_url], slug, "reader")
    await reader.connect()
    assert reader.first_frames == ["snapshot"]
    assert (reader.client.rev, reader.text) == (at_kill["rev"], at_kill["text"])
    await writer.connect(worker_b.ws_url)
    assert writer.first_frames == ["snapshot", "resume"]
    assert (writer.client.rev, writer.text) == (at_kill["rev"], at_kill["text"])
    for tab in (writer, reader):
        await tab.close()


@pytest.mark.parametrize("fate", ["committed, ack lost", "never read"])
async def test_an_edit_in_flight_at_a_sigkill_is_applied_once_when_its_tab_resumes_on_another_worker(
    start_worker, fate
):
    """The tab's pending edit, committed or not when its worker died, lands exactly once after resuming."""
    worker_a, worker_b = await start_two(start_worker)
    slug = "killed-in-flight"
    scene = Scene()
    writer = FaultyTab(scene, [worker_a.ws_url], slug, "writer")
    observer = FaultyTab(scene, [worker_a.ws_url], slug, "observer")
    await writer.connect()
    await observer.connect()
    typed = await type_burst(writer, seed=2)
    await scene.wait_for(lambda: writer.settled, what="the burst's acks")
    acked_before = list(writer.client.acknowledged)
    pending = ot.normalize([len(writer.text), IN_FLIGHT])

    if fate == "committed, ack lost":
        # Whatever A sends the writer from now on (the ack) never reaches it. A
        # delivers an edit to its other local sockets right after committing it,
        # before acking: the observer's copy is the moment to kill.
        writer.frozen = True

        def kill_once_committed(frame: dict) -> None:
            if frame["type"] == "op" and frame["id"] == pending_id:
                worker_a.kill()

        observer.on_frame = kill_once_committed
        writer.type(pending)
        pending_id = writer.client.outstanding.op_id
    else:
        # A is frozen before the edit leaves, so it never reads it, then killed.
        freeze(worker_a)
        written = writer.written
        writer.type(pending)
        pending_id = writer.client.outstanding.op_id
        await scene.wait_for(lambda: writer.written > written, what="the pending edit to be written")
        worker_a.kill()
    await scene.wait_for(
        lambda: worker_a.process.poll() is not None and not writer.connected and not observer.connected,
        what="the kill and both sockets closing",
    )
    assert writer.client.acknowledged == acked_before, "the pending edit's ack must not have arrived"
    _, operations = await stored(slug)
    assert [op_id for _, op_id in operations] == acked_before + ([pending_id] if "committed" in fate else [])

    writer.frozen = False
    await writer.connect(worker_b.ws_url)  # resumes naming its pending edit
    assert writer.first_frames == ["snapshot", "resume"]
    await scene.wait_for(lambda: writer.settled, what="the pending edit's fate on B")
    # A catch-up that holds the edit stands for its ack; otherwise it was sent again.
    found = scene.paths["own pending edit found among the revisions"]
    assert found == (1 if "committed" in fate else 0)
    assert writer.client.acknowledged == [*acked_before, pending_id]

    rev, text = await aread_document(slug)
    assert (rev, text) == (writer.client.rev, writer.text)
    assert text.count(IN_FLIGHT) == 1
    assert {char: text.count(char) for char in typed} == dict.fromkeys(typed, 1)
    document, operations = await stored(slug)
    assert [op_id for _, op_id in operations] == writer.client.acknowledged
    assert (document.rev, document.length) == (rev, len(text))
    reader = FaultyTab(scene, [worker_b.ws_url], slug, "reader")
    await reader.connect()
    assert (reader.client.rev, reader.text) == (rev, text)
    for tab in (writer, observer, reader):
        await tab.close()
