// The fallback transport in the browser: which transport each attempt uses, the
// WebSocket-shaped FallbackSocket over fetch and EventSource, and the upgrade back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ReconnectingSocket, Status } from "../../editor/static/editor/socket.js";
import {
  FallbackSocket,
  fallbackUrl,
  MAX_FRAMES_PER_POST,
  Transport,
  TransportChooser,
} from "../../editor/static/editor/transport.js";
import { FakeWebSocket } from "./fakes.js";

test("the chooser tries the WebSocket first, the fallback after one that did not open, and keeps it", () => {
  const chooser = new TransportChooser();
  const attempt = (opened) => {
    const kind = chooser.next();
    chooser.attempt(kind);
    if (opened) chooser.opened(kind);
    return kind;
  };
  assert.equal(attempt(false), Transport.WEBSOCKET);
  assert.equal(attempt(false), Transport.STREAM, "after a WebSocket that did not open");
  assert.equal(attempt(false), Transport.WEBSOCKET, "the fallback failed too: maybe the server is down");
  assert.equal(attempt(false), Transport.STREAM);
  assert.equal(attempt(false), Transport.WEBSOCKET);
  assert.equal(attempt(true), Transport.STREAM, "the WebSocket did not open again: the fallback, which opens");
  assert.equal(attempt(true), Transport.STREAM, "kept once it served, even after it drops");
  chooser.streamHeldBack();
  assert.equal(attempt(true), Transport.POLL, "a held-back stream: long polls from now on");
  chooser.upgrade();
  assert.equal(attempt(true), Transport.WEBSOCKET, "a probe opened: back to the WebSocket");
  assert.equal(attempt(false), Transport.WEBSOCKET, "a WebSocket that served and dropped is tried again");
});

test("the fallback opens where the WebSocket would, with the same query", () => {
  assert.equal(fallbackUrl("ws://h:8000/ws/docs/a/?rev=3&pending=x"), "http://h:8000/fallback/docs/a/?rev=3&pending=x");
  assert.equal(fallbackUrl("wss://h/ws/docs/a/"), "https://h/fallback/docs/a/");
});

/** The fallback, as the reconnecting socket sees it: a WebSocket that also gets options. */
class FakeFallback extends FakeWebSocket {
  static instances = [];

  constructor(url, options) {
    super(url);
    FakeWebSocket.instances.pop(); // counted among fallbacks, not WebSockets
    this.options = options;
    FakeFallback.instances.push(this);
  }
}

function fallbackSocket(t, statuses = []) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  FakeFallback.instances = [];
  const socket = new ReconnectingSocket(
    () => "ws://x/ws/docs/a/?rev=0",
    { onFrame() {}, onStatus: (status) => statuses.push(status) },
    {
      WebSocketClass: FakeWebSocket,
      FallbackClass: FakeFallback,
      probeUrl: () => "ws://x/ws/probe/",
      openTimeoutMs: 2500,
      firstProbeMs: 5000,
      probeIntervalMs: 60_000,
    },
  );
  socket.start();
  return socket;
}

test("a WebSocket not open within 2.5 s gives way to the fallback at once", (t) => {
  const statuses = [];
  const socket = fallbackSocket(t, statuses);
  t.mock.timers.tick(2499);
  assert.equal(FakeFallback.instances.length, 0);
  t.mock.timers.tick(1);
  assert.equal(FakeWebSocket.instances[0].closedWith, 1006, "the hanging handshake is given up");
  t.mock.timers.tick(0);
  assert.equal(FakeFallback.instances.length, 1);
  assert.equal(FakeFallback.instances[0].url, "ws://x/ws/docs/a/?rev=0");
  assert.equal(FakeFallback.instances[0].options.mode, Transport.STREAM);
  FakeFallback.instances[0].open();
  assert.equal(socket.transport, Transport.STREAM);
  assert.ok(socket.send({ type: "ping" }));
  assert.deepEqual(FakeFallback.instances[0].sent, [{ type: "ping" }]);
  assert.deepEqual(statuses, [Status.CONNECTING, Status.RECONNECTING]);
  socket.stop();
});

test("a refused WebSocket (closed before it opened) gives way to the fallback too", (t) => {
  const socket = fallbackSocket(t);
  FakeWebSocket.instances[0].close(1006);
  t.mock.timers.tick(0);
  assert.equal(FakeFallback.instances.length, 1);
  socket.stop();
});

test("on the fallback, a probe that opens moves the connection back to a WebSocket at once", (t) => {
  const statuses = [];
  const socket = fallbackSocket(t, statuses);
  FakeWebSocket.instances[0].close(1006);
  t.mock.timers.tick(0);
  const fallback = FakeFallback.instances[0];
  fallback.open();

  t.mock.timers.tick(5000); // the first probe
  const first = FakeWebSocket.instances.at(-1);
  assert.equal(first.url, "ws://x/ws/probe/");
  first.close(1006); // still blocked
  assert.equal(fallback.readyState, 1, "the fallback stays");
  t.mock.timers.tick(59_999);
  assert.equal(FakeWebSocket.instances.length, 2, "the next probe a minute later");
  t.mock.timers.tick(1);
  const second = FakeWebSocket.instances.at(-1);
  assert.equal(second.url, "ws://x/ws/probe/");
  t.mock.timers.tick(2500); // hangs: given up, as a handshake is
  assert.equal(second.closedWith, 1006);
  assert.equal(fallback.readyState, 1);

  t.mock.timers.tick(60_000);
  const third = FakeWebSocket.instances.at(-1);
  third.open(); // unblocked
  assert.equal(third.closedWith, 1000, "the probe itself is closed");
  assert.equal(fallback.closedWith, 1000, "the fallback session is closed");
  t.mock.timers.tick(0);
  const upgraded = FakeWebSocket.instances.at(-1);
  assert.equal(upgraded.url, "ws://x/ws/docs/a/?rev=0", "a new connection to the document, resuming");
  upgraded.open();
  assert.equal(socket.transport, Transport.WEBSOCKET);
  assert.equal(statuses.filter((s) => s === Status.RECONNECTING).length, 1, "only the first switch said so");
  t.mock.timers.tick(120_000);
  assert.equal(FakeWebSocket.instances.at(-1), upgraded, "no probes on a WebSocket");
  socket.stop();
});

test("a held-back stream, reported by the fallback, makes the next session a long poll", (t) => {
  const socket = fallbackSocket(t);
  FakeWebSocket.instances[0].close(1006);
  t.mock.timers.tick(0);
  FakeFallback.instances[0].open();
  FakeFallback.instances[0].options.onHeldBack();
  assert.equal(socket.transport, Transport.POLL, "the session goes on by polls, and says so");
  FakeFallback.instances[0].close(1006);
  t.mock.timers.tick(10_000);
  assert.equal(FakeFallback.instances.at(-1).options.mode, Transport.POLL);
  socket.stop();
});

// FallbackSocket over a fake fetch and EventSource.

class FakeEventSource {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = {};
    this.closed = false;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }

  emit(type, data = "{}", lastEventId = "") {
    for (const listener of this.listeners[type] ?? []) listener({ data, lastEventId });
  }

  close() {
    this.closed = true;
    this.readyState = 2;
  }
}

function response(status, body) {
  return { status, ok: status >= 200 && status < 300, json: async () => body };
}

/** A fetch that records requests and answers each from `answer(method, url, body)`. */
function fakeFetch(answer) {
  const requests = [];
  const fetchImpl = async (url, init = {}) => {
    const method = init.method ?? "GET";
    const body = init.body ? JSON.parse(init.body) : undefined;
    requests.push({ method, url, body });
    return answer(method, url, body);
  };
  return { fetchImpl, requests };
}

const OPENED = { session: "T", events: "/fallback/sessions/T/events", poll: "/fallback/sessions/T/poll", frames: "/fallback/sessions/T/frames" };
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function openFallback(t, answer, options = {}) {
  FakeEventSource.instances = [];
  const fake = fakeFetch(answer);
  const socket = new FallbackSocket("ws://x/ws/docs/a/?rev=4", {
    fetchImpl: fake.fetchImpl,
    EventSourceClass: FakeEventSource,
    ...options,
  });
  const seen = { opened: 0, messages: [], closes: [] };
  socket.onopen = () => seen.opened++;
  socket.onmessage = ({ data }) => seen.messages.push(data);
  socket.onclose = (event) => seen.closes.push(event.code);
  await settle();
  return { socket, seen, requests: fake.requests };
}

test("a fallback session opens, streams its events once each in order, and says why it closed", async (t) => {
  const { socket, seen, requests } = await openFallback(t, (method) => response(method === "POST" ? 201 : 200, OPENED));
  assert.deepEqual(requests[0], { method: "POST", url: "http://x/fallback/docs/a/?rev=4", body: undefined });
  assert.equal(seen.opened, 1);
  assert.equal(socket.readyState, 1);
  const stream = FakeEventSource.instances[0];
  assert.equal(stream.url, "http://x/fallback/sessions/T/events?after=0");
  stream.emit("ready");
  stream.emit("message", '{"type":"snapshot"}', "1");
  stream.emit("message", '{"type":"op"}', "2");
  stream.emit("message", '{"type":"op"}', "2"); // a reconnected stream repeating one: skipped
  stream.emit("message", '{"type":"ack"}', "3");
  assert.deepEqual(seen.messages, ['{"type":"snapshot"}', '{"type":"op"}', '{"type":"ack"}']);
  stream.emit("close", '{"code":4403,"reason":""}', "4");
  assert.deepEqual(seen.closes, [4403]);
  assert.equal(stream.closed, true);
  assert.equal(socket.readyState, 3);
});

test("a stream with no event within 3 s is held back: the session goes on by long polls, from where it was", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let polls = 0;
  let heldBack = 0;
  const { seen, requests } = await openFallback(
    t,
    (method, url) => {
      if (method === "POST") return response(201, OPENED);
      polls++;
      return polls === 1
        ? response(200, { events: [{ id: 2, frame: '{"type":"op"}' }] })
        : response(200, { events: [{ id: 3, close: { code: 1012, reason: "" } }] });
    },
    { onHeldBack: () => heldBack++ },
  );
  const stream = FakeEventSource.instances[0];
  stream.emit("message", '{"type":"snapshot"}', "1"); // some got through, not the ready event
  t.mock.timers.tick(3000);
  assert.equal(stream.closed, true);
  assert.equal(heldBack, 1);
  await settle();
  await settle();
  const pollUrls = requests.filter((r) => r.method === "GET").map((r) => r.url);
  assert.deepEqual(pollUrls, ["http://x/fallback/sessions/T/poll?after=1", "http://x/fallback/sessions/T/poll?after=2"]);
  assert.deepEqual(seen.messages, ['{"type":"snapshot"}', '{"type":"op"}']);
  assert.deepEqual(seen.closes, [1012]);
});

test("frames go up in order, one POST in flight, numbered, batched, with what was received", async (t) => {
  const posts = [];
  let release;
  const { socket, requests } = await openFallback(t, (method, url, body) => {
    if (url.endsWith("/fallback/docs/a/?rev=4")) return response(201, OPENED);
    posts.push(body);
    if (posts.length === 1) return new Promise((resolve) => (release = () => resolve(response(200, { next: 1 }))));
    return response(200, { next: body.seq + body.frames.length });
  });
  FakeEventSource.instances[0].emit("message", '{"type":"snapshot"}', "1");
  socket.send("a");
  socket.send("b");
  socket.send("c");
  await settle();
  assert.equal(posts.length, 1, "one in flight");
  assert.deepEqual(posts[0], { seq: 0, frames: ["a"], ack: 1 });
  release();
  await settle();
  await settle();
  assert.deepEqual(posts[1], { seq: 1, frames: ["b", "c"], ack: 1 });
  for (let n = 0; n < MAX_FRAMES_PER_POST + 1; n++) socket.send("x");
  await settle();
  await settle();
  assert.deepEqual(
    posts.slice(2).map((p) => [p.seq, p.frames.length]),
    [
      [3, 1], // sent at once: nothing was in flight
      [4, MAX_FRAMES_PER_POST], // the rest, at most MAX_FRAMES_PER_POST a POST
    ],
  );
  socket.close(1000);
  assert.equal(requests.at(-1).method, "DELETE");
  assert.equal(requests.at(-1).url, "http://x/fallback/sessions/T/");
});

test("a busy server (429) gets the same frames again a second later; a lost session (410) closes with 1006", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const posts = [];
  const { socket, seen } = await openFallback(t, (method, url, body) => {
    if (method === "POST" && !body) return response(201, OPENED);
    posts.push(body);
    return response([429, 200, 410][posts.length - 1], { next: 1 });
  });
  socket.send("a");
  await settle();
  assert.equal(posts.length, 1);
  t.mock.timers.tick(1000);
  await settle();
  assert.deepEqual(posts[1], posts[0], "the same frames, the same number");
  await settle();
  socket.send("b");
  await settle();
  await settle();
  assert.deepEqual(seen.closes, [1006]);
});

test("an opening refused answers as a handshake would: 503 is 1013, anything else 1006", async (t) => {
  for (const [status, code] of [
    [503, 1013],
    [403, 1006],
  ]) {
    const { seen } = await openFallback(t, () => response(status, {}));
    assert.deepEqual(seen.closes, [code]);
    assert.equal(seen.opened, 0);
  }
});

test("a frame sent while a POST's answer is being read waits for its number (none is skipped)", async (t) => {
  const posts = [];
  let readBody;
  const { socket } = await openFallback(t, (method, url, body) => {
    if (!body) return response(201, OPENED);
    posts.push(body);
    const answer = { next: body.seq + body.frames.length };
    if (posts.length > 1) return response(200, answer);
    // The status is known, the body not yet read.
    return { status: 200, ok: true, json: () => new Promise((resolve) => (readBody = () => resolve(answer))) };
  });
  socket.send("a");
  await settle();
  socket.send("b"); // while the first answer's body is read
  await settle();
  assert.equal(posts.length, 1);
  readBody();
  await settle();
  await settle();
  assert.deepEqual(
    posts.map((p) => [p.seq, p.frames]),
    [
      [0, ["a"]],
      [1, ["b"]],
    ],
  );
  socket.close();
});

test("a stream that falls silent for 20 s after its ready event is held back too (a proxy that passed its first bytes)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let heldBack = 0;
  const { socket } = await openFallback(
    t,
    (method) => (method === "POST" ? response(201, OPENED) : response(200, { events: [] })),
    { onHeldBack: () => heldBack++ },
  );
  const stream = FakeEventSource.instances[0];
  stream.emit("ready");
  t.mock.timers.tick(15_000);
  stream.emit("keepalive");
  t.mock.timers.tick(19_999);
  assert.equal(heldBack, 0, "an event every 15 s keeps it");
  t.mock.timers.tick(1);
  assert.equal(heldBack, 1);
  assert.equal(stream.closed, true);
  socket.close();
});

test("a session that fails here is deleted on the server; one the server closed is not", async (t) => {
  const { socket, requests } = await openFallback(t, (method, url, body) => {
    if (method === "POST" && !body) return response(201, OPENED);
    return response(410, {});
  });
  socket.send("a"); // answered 410: the session is lost
  await settle();
  await settle();
  assert.deepEqual(
    requests.filter((r) => r.method === "DELETE").map((r) => r.url),
    ["http://x/fallback/sessions/T/"],
  );
  const closed = await openFallback(t, (method) => response(method === "POST" ? 201 : 200, OPENED));
  FakeEventSource.instances[0].emit("close", '{"code":4001,"reason":""}', "1");
  assert.deepEqual(closed.seen.closes, [4001]);
  assert.equal(closed.requests.filter((r) => r.method === "DELETE").length, 0);
});
