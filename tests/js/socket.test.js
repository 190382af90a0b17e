// The socket adapter: reconnects with backoff, resumes with the URL it is given.
import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay, ReconnectingSocket, Status } from "../../editor/static/editor/socket.js";
import { FakeWebSocket } from "./fakes.js";

test("backoff doubles from half a second to ten seconds, with jitter", () => {
  const middle = () => 0.5;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, middle)),
    [500, 1000, 2000, 4000, 8000, 10000, 10000],
  );
  assert.equal(
    backoffDelay(0, () => 0),
    375,
  );
  assert.equal(
    backoffDelay(0, () => 0.999999),
    625,
  );
});

test("reconnects after a drop, with a fresh URL and status updates", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  const statuses = [];
  const frames = [];
  let rev = 0;
  const socket = new ReconnectingSocket(
    () => `ws://x/ws/docs/a/?rev=${rev}`,
    {
      onFrame: (frame) => frames.push(frame),
      onStatus: (status) => statuses.push(status),
    },
    { WebSocketClass: FakeWebSocket, pingIntervalMs: 1000 },
  );
  socket.start();
  const first = FakeWebSocket.instances[0];
  first.open();
  assert.equal(socket.send({ type: "ping" }), true);
  first.onmessage({ data: '{"type":"pong"}' });
  assert.deepEqual(frames, [{ type: "pong" }]);
  t.mock.timers.tick(1000);
  assert.deepEqual(first.sent.at(-1), { type: "ping" }, "pings keep the connection alive");
  rev = 7;
  first.close();
  assert.equal(socket.send({ type: "op" }), false, "nothing is sent while disconnected");
  assert.deepEqual(statuses, [Status.CONNECTING, Status.RECONNECTING]);
  t.mock.timers.tick(10_000);
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(FakeWebSocket.instances[1].url, "ws://x/ws/docs/a/?rev=7");
});

test("stop closes for good", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  const socket = new ReconnectingSocket(() => "ws://x/", { onFrame() {} }, { WebSocketClass: FakeWebSocket });
  socket.start();
  FakeWebSocket.instances[0].open();
  socket.stop();
  t.mock.timers.tick(60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
});

test("an operator's disconnect (4001) is final: no reconnection", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  const statuses = [];
  const socket = new ReconnectingSocket(
    () => "ws://x/",
    { onFrame() {}, onStatus: (s) => statuses.push(s) },
    {
      WebSocketClass: FakeWebSocket,
    },
  );
  socket.start();
  FakeWebSocket.instances[0].open();
  FakeWebSocket.instances[0].close(4001);
  t.mock.timers.tick(60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.deepEqual(statuses, [Status.CONNECTING, Status.DISCONNECTED]);
  // The page's Reconnect: one new connection, and reconnecting again as usual from then on.
  socket.reconnect();
  socket.reconnect(); // a second click while connecting does nothing more
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.instances[1].open();
  FakeWebSocket.instances[1].close(1006);
  t.mock.timers.tick(60_000);
  assert.equal(FakeWebSocket.instances.length, 3);
  assert.deepEqual(statuses.slice(2), [Status.CONNECTING, Status.RECONNECTING]);
});

test("closed for a policy (1008), it reconnects no sooner than 6 s, even though the socket opened", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  const socket = new ReconnectingSocket(() => "ws://x/", { onFrame() {} }, { WebSocketClass: FakeWebSocket });
  socket.start();
  for (const expected of [2, 3]) {
    const last = FakeWebSocket.instances.at(-1);
    last.open();
    last.close(1008);
    t.mock.timers.tick(5_999); // 8 s, less at most 25 % of jitter
    assert.equal(FakeWebSocket.instances.length, expected - 1, "not yet");
    t.mock.timers.tick(10_000 * 1.25 - 5_999);
    assert.equal(FakeWebSocket.instances.length, expected);
  }
});

test("a worker shutting down (1012, or 4012) is left for another at once: within 250 ms, no backoff", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  let random = 1 - Number.EPSILON; // the longest spread
  const socket = new ReconnectingSocket(
    () => "ws://x/",
    { onFrame() {} },
    { WebSocketClass: FakeWebSocket, random: () => random },
  );
  socket.start();
  // Even after drops that grew the backoff: a restart does not wait for it.
  for (let n = 0; n < 4; n++) {
    FakeWebSocket.instances.at(-1).close(1006);
    t.mock.timers.tick(20_000);
  }
  for (const code of [1012, 4012]) {
    const before = FakeWebSocket.instances.length;
    FakeWebSocket.instances.at(-1).open();
    FakeWebSocket.instances.at(-1).close(code);
    t.mock.timers.tick(249);
    assert.equal(FakeWebSocket.instances.length, before, "spread over a quarter of a second");
    t.mock.timers.tick(1);
    assert.equal(FakeWebSocket.instances.length, before + 1, `reconnected after ${code}`);
  }
  random = 0;
  FakeWebSocket.instances.at(-1).open();
  FakeWebSocket.instances.at(-1).close(1012);
  t.mock.timers.tick(0);
  assert.equal(FakeWebSocket.instances.length, 8, "at once, with no spread drawn");
  socket.stop();
});

test("refused after opening (an error, then 1013), the backoff keeps growing; a served socket resets it", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  FakeWebSocket.instances = [];
  const socket = new ReconnectingSocket(
    () => "ws://x/",
    { onFrame() {} },
    { WebSocketClass: FakeWebSocket, random: () => 0.5 }, // no jitter
  );
  socket.start();
  for (const delay of [500, 1000, 2000, 4000]) {
    const last = FakeWebSocket.instances.at(-1);
    last.open();
    last.onmessage({ data: JSON.stringify({ type: "error", code: "unavailable", message: "…" }) });
    last.close(1013);
    const before = FakeWebSocket.instances.length;
    t.mock.timers.tick(delay - 1);
    assert.equal(FakeWebSocket.instances.length, before, `not before ${delay} ms`);
    t.mock.timers.tick(1);
    assert.equal(FakeWebSocket.instances.length, before + 1);
  }
  const served = FakeWebSocket.instances.at(-1);
  served.open();
  served.onmessage({ data: JSON.stringify({ type: "snapshot", rev: 0, text: "" }) });
  served.close(1006);
  t.mock.timers.tick(500);
  assert.equal(FakeWebSocket.instances.length, 6, "back to the first delay");
  socket.stop();
});

/** A socket that was served, then closed with 1012, reconnecting (random 0.5: no jitter). */
function restartedSocket(t) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  FakeWebSocket.instances = [];
  const socket = new ReconnectingSocket(
    () => "ws://x/",
    { onFrame() {} },
    { WebSocketClass: FakeWebSocket, random: () => 0.5 },
  );
  socket.start();
  FakeWebSocket.instances.at(-1).open();
  FakeWebSocket.instances.at(-1).close(1012);
  t.mock.timers.tick(125); // the restart spread's middle: the next socket is open
  return socket;
}

/** The newest socket closes with `code`; the next one comes exactly `delay` ms later. */
function closeAndExpect(t, code, delay) {
  const before = FakeWebSocket.instances.length;
  FakeWebSocket.instances.at(-1).close(code);
  t.mock.timers.tick(delay - 1);
  assert.equal(FakeWebSocket.instances.length, before, `after ${code}: not before ${delay} ms`);
  t.mock.timers.tick(1);
  assert.equal(FakeWebSocket.instances.length, before + 1, `after ${code}: at ${delay} ms`);
}

test("after a restart, while no worker answers (1006), it tries again every second for 30 s, then backs off", (t) => {
  const socket = restartedSocket(t);
  // Every worker is down: each attempt fails. The delay stays at one second ...
  let elapsed = 125;
  while (elapsed + 1000 < 30_000) {
    closeAndExpect(t, 1006, 1000);
    elapsed += 1000;
  }
  // ... until 30 s after the restart: then the usual backoff, from its start.
  t.mock.timers.tick(30_000 - elapsed);
  for (const delay of [500, 1000, 2000, 4000]) closeAndExpect(t, 1006, delay);
  socket.stop();
});

test("after a restart, a worker not serving yet (1013) is tried again every second too; 4012 renews the wait", (t) => {
  const socket = restartedSocket(t);
  for (const code of [1013, 1006, 1013, 1013]) closeAndExpect(t, code, 1000);
  // 4012 (a restart behind another server) starts the 30 s again, from now.
  t.mock.timers.tick(20_000);
  closeAndExpect(t, 4012, 125);
  t.mock.timers.tick(20_000);
  closeAndExpect(t, 1006, 1000); // 44 s after the 1012, 20 s after the 4012: still waiting
  socket.stop();
});

test("after a restart, a refusal for a policy (1008) ends the wait: backoff from 8 s, then growing", (t) => {
  const socket = restartedSocket(t);
  for (const [code, delay] of [
    [1008, 8000],
    [1006, 10_000],
    [1013, 10_000],
  ]) {
    closeAndExpect(t, code, delay);
  }
  socket.stop();
});

test("a served socket ends the restart's patience: a later failure backs off from the start", (t) => {
  const socket = restartedSocket(t);
  const served = FakeWebSocket.instances.at(-1);
  served.open();
  served.onmessage({ data: JSON.stringify({ type: "snapshot", rev: 0, text: "" }) });
  for (const delay of [500, 1000]) {
    const before = FakeWebSocket.instances.length;
    FakeWebSocket.instances.at(-1).close(1006);
    t.mock.timers.tick(delay - 1);
    assert.equal(FakeWebSocket.instances.length, before, `not before ${delay} ms`);
    t.mock.timers.tick(1);
    assert.equal(FakeWebSocket.instances.length, before + 1);
  }
  socket.stop();
});
