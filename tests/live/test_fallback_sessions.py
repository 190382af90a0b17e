"""live/fallback.py's emulated socket on its own: the edges a real client rarely reaches (a POST
sent again while the first waits for room, too many readers, an application that closes before
accepting)."""

import asyncio

import pytest

from editor.live.fallback import MOST_READERS, Busy, EmulatedSocket, FallbackSessions


def emulated(**limits) -> EmulatedSocket:
    return EmulatedSocket("key", **{"keep_events": 10, "inbound_frames": 2, "max_frame_bytes": 100, **limits})


async def taken(socket: EmulatedSocket, count: int) -> list[str]:
    return [(await socket.receive()).get("text") for _ in range(count)]


async def test_a_post_sent_again_while_the_first_waits_for_room_is_taken_once(settings):
    settings.EDITOR_FALLBACK_WAIT_SECONDS = 5
    socket = emulated()
    for _ in range(2):  # the consumer's queue is full
        socket._inbox.put_nowait({"type": "websocket.receive", "text": "earlier"})
    first = asyncio.ensure_future(socket.push(0, ["a", "b"]))
    again = asyncio.ensure_future(socket.push(0, ["a", "b"]))  # its answer was lost: sent again
    await asyncio.sleep(0)
    assert not first.done()
    assert await taken(socket, 2) == ["earlier", "earlier"]  # room
    assert await first == 2
    assert await again == 2
    assert await taken(socket, 2) == ["a", "b"]
    assert socket._inbox.empty()  # nothing twice


async def test_a_full_queue_answers_busy_after_the_wait(settings):
    settings.EDITOR_FALLBACK_WAIT_SECONDS = 0.05
    socket = emulated()
    assert await socket.push(0, ["a", "b"]) == 2  # exactly the room there is
    with pytest.raises(Busy):
        await socket.push(2, ["c"])
    assert socket.received == 2


async def test_at_most_two_requests_wait_for_a_sessions_events():
    socket = emulated()
    socket.accepted.set_result(True)
    waiting = [
        asyncio.ensure_future(socket.pull(after=0, ack=None, wait=5, most=10)) for _ in range(MOST_READERS)
    ]
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        await socket.pull(after=0, ack=None, wait=5, most=10)
    await socket.send({"type": "websocket.send", "text": "frame"})
    for pull in waiting:
        assert [event.frame for event in await pull] == ["frame"]


async def test_an_application_that_closes_before_accepting_is_told_and_forgotten():
    async def refusing(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.close", "code": 4403})
        assert (await receive())["type"] == "websocket.disconnect"  # as Daphne tells it

    sessions = FallbackSessions()
    _, session = await sessions.open(refusing, {"type": "websocket"})
    assert session.accepted.result() is False
    await asyncio.wait_for(session.task, 1)
    assert len(sessions) == 0
