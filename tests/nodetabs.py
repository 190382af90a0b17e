"""Many browser tabs running the shipped client code, in one Node process, for fault tests.

``tests/nodetabs/tabs.mjs`` runs editor/static/editor/client.js and socket.js
unmodified, wired as main.js wires them; this drives it over JSON lines (the
commands are documented at the top of that file). Claims about what the page
does after a worker restarts or dies (close codes, reconnecting, resuming,
offline typing delivered, nothing acknowledged lost) are then made about
the page's own code, not about the Python twin in tests/livetab.py.

    async with NodeTabs() as tabs:
        await tabs.open("t0", worker.ws_url + "/ws/docs/slug/")
        await tabs.wait_for(lambda s: s["t0"]["live"], what="t0 live")

Times in events and in ``live_since`` are Date.now() milliseconds, on the
same clock as ``time.time() * 1000``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.documents import aread_document

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "nodetabs" / "tabs.mjs"
# A state reply holds every tab's text on one line: far more than asyncio's 64 KiB default.
LINE_LIMIT = 64 * 1024 * 1024


class NodeTabsError(AssertionError):
    """The Node process failed, wrote to stderr, or refused a command."""


class NodeTabs:
    def __init__(self, *, node: str = "node") -> None:
        self.node = node
        self.process: asyncio.subprocess.Process | None = None
        self.events: list[dict] = []  # every event the process pushed, in order
        self.stderr = bytearray()
        self._replies: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._changed = asyncio.Event()  # set on every event; cleared by whoever waits
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> NodeTabs:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close(check=exc_info[0] is None)

    async def start(self) -> NodeTabs:
        self.process = await asyncio.create_subprocess_exec(
            self.node,
            "--experimental-websocket",
            str(SCRIPT),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        return self

    async def _read_stdout(self) -> None:
        async for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:  # something in the client code printed: a failure, reported at close
                self.stderr.extend(b"not a JSON line on stdout: " + line)
                continue
            if "reply" in message:
                future = self._replies.pop(message["reply"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                self.events.append(message)
                self._changed.set()
        self._changed.set()  # the process ended: let waiters see it
        for future in self._replies.values():
            if not future.done():
                future.set_exception(self._failure("the Node process ended before it replied"))

    async def _read_stderr(self) -> None:
        while chunk := await self.process.stderr.read(65536):
            self.stderr.extend(chunk)

    def _failure(self, what: str) -> NodeTabsError:
        stderr = self.stderr.decode(errors="replace")
        return NodeTabsError(f"{what}; exit code {self.process.returncode}, stderr:\n{stderr[-4000:]}")

    async def command(self, cmd: str, *, within: float = 10, **fields) -> dict:
        """Send one command and wait for its reply; a refused command raises."""
        if self.process.returncode is not None or self.process.stdout.at_eof():
            raise self._failure(f"the Node process is gone (sending {cmd})")
        self._next_id += 1
        future = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = future
        self.process.stdin.write(json.dumps({"cmd": cmd, "id": self._next_id, **fields}).encode() + b"\n")
        await self.process.stdin.drain()
        reply = await asyncio.wait_for(future, within)
        if "error" in reply:
            raise NodeTabsError(f"{cmd} refused: {reply['error']}")
        return reply

    async def open(self, tab: str, url: str, *, origin: str | None = None, **options) -> None:
        """A new tab on ``url`` (ws://host:port/ws/docs/slug/); origin defaults to the url's."""
        fields = {"tab": tab, "url": url, **options}
        if origin is not None:
            fields["origin"] = origin
        await self.command("open", **fields)

    async def typing(
        self, tabs: Iterable[str] | None = None, *, every_ms: tuple[int, int] = (5, 40), seed: int = 1
    ) -> None:
        """Random keystrokes on these tabs (default every tab) until ``stop_typing``."""
        fields = {"every_ms": list(every_ms), "seed": seed}
        if tabs is not None:
            fields["tabs"] = list(tabs)
        await self.command("typing", **fields)

    async def stop_typing(self, tabs: Iterable[str] | None = None) -> None:
        await self.command("stop_typing", **({} if tabs is None else {"tabs": list(tabs)}))

    async def keys(self, tab: str, n: int = 1) -> None:
        """``n`` random keystrokes on ``tab`` now."""
        await self.command("keys", tab=tab, n=n)

    async def insert(self, tab: str, text: str, at: int | None = None) -> None:
        await self.command("insert", tab=tab, text=text, **({} if at is None else {"at": at}))

    async def close_tab(self, tab: str) -> None:
        await self.command("close", tab=tab)

    async def state(self, fields: Iterable[str] | None = None) -> dict[str, dict]:
        """Every tab's state (fields: tabs.mjs), by tab name; only ``fields`` if given
        (texts are long: with many tabs, a wait on ``live`` alone is much cheaper)."""
        return (await self.command("state", **({} if fields is None else {"fields": list(fields)})))["tabs"]

    async def wait_for(
        self,
        predicate: Callable[[dict[str, dict]], object],
        *,
        what: str,
        within: float = 30,
        fields: Iterable[str] | None = None,
    ) -> dict[str, dict]:
        """Poll the state until ``predicate(state)`` holds; woken early by every event."""
        deadline = time.monotonic() + within
        fields = None if fields is None else list(fields)
        while True:
            self._changed.clear()
            state = await self.state(fields)
            if predicate(state):
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {within} s waiting for {what}; state:\n{summary(state)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(0.05, remaining))

    def events_of(self, event: str, tab: str | None = None) -> list[dict]:
        return [e for e in self.events if e["event"] == event and (tab is None or e["tab"] == tab)]

    def back_live_after(self, since: float) -> dict[str, float | None]:
        """Seconds from ``since`` (a time.time()) until each tab that left "live" after it was
        live again (None: not yet); tabs that stayed live are not in it."""
        since_ms = since * 1000
        back: dict[str, float | None] = {}
        for event in self.events_of("status"):
            if event["t"] < since_ms:
                continue
            tab = event["tab"]
            if event["status"] != "live" and tab not in back:
                back[tab] = None
            elif event["status"] == "live" and tab in back and back[tab] is None:
                back[tab] = (event["t"] - since_ms) / 1000
        return back

    async def close(self, *, check: bool = True) -> None:
        """Quit the process; fail if it wrote to stderr or exited with anything but 0."""
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, NodeTabsError, TimeoutError):
                await self.command("quit", within=5)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(*self._tasks)
        if check and (self.process.returncode != 0 or self.stderr):
            raise self._failure("the Node tabs did not end cleanly")


def all_live(state: dict[str, dict]) -> bool:
    return all(tab["live"] and tab["status"] == "live" for tab in state.values())


async def converged(tabs: NodeTabs, slug: str, *, within: float = 30) -> tuple[int, str]:
    """Wait until every tab has nothing pending and the document's head; return (rev, text)."""

    def quiet(state: dict[str, dict]) -> bool:
        return all_live(state) and all(tab["state"] == "synchronised" for tab in state.values())

    await tabs.wait_for(quiet, what="every tab live with nothing pending", within=within)
    rev, text = await aread_document(slug)
    state = await tabs.wait_for(
        lambda s: all(tab["rev"] == rev for tab in s.values()), what=f"every tab at revision {rev}"
    )
    for name, tab in state.items():
        assert tab["text"] == text, f"{name} differs from the database"
        assert tab["view_ok"], f"{name}'s view is not its client's text"
        assert tab["exceptions"] == [], f"{name}: client.receive threw"
        assert tab["presence_errors"] == [], f"{name}: client.visiblePeople threw"
        missing = [char for char in tab["typed"] if text.count(char) != 1]
        assert not missing, f"{name}: {len(missing)} of {len(tab['typed'])} keystrokes lost or doubled"
    return rev, text


def typed_at_least(n: int) -> Callable[[dict[str, dict]], bool]:
    return lambda state: all(len(tab["typed"]) >= n for tab in state.values())


def summary(state: dict[str, dict]) -> str:
    """One line a tab, for failure messages (texts can be long)."""
    return "\n".join(
        f"  {name}: status={tab['status']} live={tab['live']} rev={tab['rev']} state={tab['state']}"
        f" typed={len(tab['typed'])} acked={tab['acked']} closes={tab['closes']} errors={tab['errors']}"
        f" exceptions={len(tab['exceptions'])} first_frames={tab['first_frames']}"
        for name, tab in state.items()
    )
