"""A client of the fallback transport (docs/protocol.md "Where WebSockets are blocked"), written
from the protocol's text with httpx, for tests against real workers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

TIMEOUT = 10


@dataclass
class StreamEvent:
    """One Server-Sent Event as the browser's EventSource sees it."""

    id: int | None
    event: str
    data: str

    @property
    def frame(self) -> dict:
        return json.loads(self.data)


class FallbackSession:
    """One session: opened through one worker, then read and written through any."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, slug: str, *, origin: str | None = None
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.slug = slug
        self.origin = origin or base_url
        self.token: str | None = None
        self.seq = 0  # the next frame's number

    async def open(self, query: str = "") -> httpx.Response:
        response = await self.http.post(
            f"{self.base_url}/fallback/docs/{self.slug}/{query}", headers={"Origin": self.origin}
        )
        if response.status_code == 201:
            self.token = response.json()["session"]
        return response

    def url(self, kind: str, base_url: str | None = None) -> str:
        return f"{base_url or self.base_url}/fallback/sessions/{self.token}/{kind}"

    async def send(
        self, *frames: dict | str, base_url: str | None = None, ack: int | None = None
    ) -> httpx.Response:
        texts = [frame if isinstance(frame, str) else json.dumps(frame) for frame in frames]
        body = {"seq": self.seq, "frames": texts, **({"ack": ack} if ack is not None else {})}
        response = await self.http.post(self.url("frames", base_url), json=body)
        if response.status_code == 200:
            self.seq = response.json()["next"]
        return response

    async def poll(self, after: int, base_url: str | None = None) -> httpx.Response:
        return await self.http.get(self.url("poll", base_url), params={"after": after})

    async def frames_until(
        self, last, *, after: int = 0, base_url: str | None = None
    ) -> tuple[list[dict], int]:
        """Long-poll until a frame for which ``last(frame)`` holds (batches unpacked); returns the
        frames up to it and its event's id, after which the next call goes on."""
        frames: list[dict] = []
        while True:
            response = await self.poll(after, base_url)
            assert response.status_code == 200, response.text
            for event in response.json()["events"]:
                assert not frames or frames[-1]["type"] != "close", frames
                after = event["id"]
                if "close" in event:
                    frames.append({"type": "close", **event["close"]})
                else:
                    frame = json.loads(event["frame"])
                    frames.extend(frame["frames"] if frame["type"] == "batch" else [frame])
                if any(last(frame) for frame in frames):
                    return frames, after

    async def close(self, base_url: str | None = None) -> httpx.Response:
        return await self.http.delete(f"{base_url or self.base_url}/fallback/sessions/{self.token}/")


async def stream_events(
    http: httpx.AsyncClient, url: str, *, last_event_id: int | None = None
) -> AsyncIterator[StreamEvent]:
    """Server-Sent Events from ``url``, parsed as the HTML standard says (the fields this
    server sends: id, event, data, retry; comments skipped)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    async with http.stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id, event, data = None, "message", []
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield StreamEvent(event_id, event, "\n".join(data))
                event, data = "message", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                event_id = int(value)
            elif field == "event":
                event = value
            elif field == "data":
                data.append(value)
