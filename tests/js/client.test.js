// The tab's protocol state machine, step by step (tests/ot/test_client.py walks its Python twin).
import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { EditorClient } from "../../editor/static/editor/client.js";
import { apply } from "../../editor/static/editor/ot.js";

function snapshot(rev, text, extra = {}) {
  return { type: "snapshot", rev, text, session: "s", people: 1, ...extra };
}

function person(session, caret, rev, extra = {}) {
  return { type: "person", session, seq: 1, name: "Bob", color: "#abcdef", caret, rev, ...extra };
}

function remote(rev, op, id = "other:1") {
  return { type: "op", rev, op, id, session: "t" };
}

function makeClient(options = {}) {
  const sent = [];
  const view = { text: null, changes: [], resyncs: 0, errors: [], modes: [], caret: [0, 0], takeBacks: [] };
  let counter = 0;
  const client = new EditorClient(
    {
      send: (frame) => sent.push(frame),
      onReset: (text) => (view.text = text),
      onRemoteOp: (op, text) => {
        view.changes.push(op);
        view.text = text;
      },
      onResync: () => view.resyncs++,
      onTakeBack: () => view.takeBacks.push(view.changes.length),
      onError: (error) => view.errors.push(error),
      onMode: (readOnly, mode) => {
        view.modes.push(readOnly);
        view.modeDetails = mode;
      },
      getCaret: () => view.caret,
      newId: () => `me:${++counter}`,
    },
    { gapTimeoutMs: 500, ...options },
  );
  client.receive(snapshot(3, "abc"));
  return { client, sent, view };
}

describe("EditorClient", () => {
  let client;
  let sent;
  let view;

  beforeEach(() => {
    ({ client, sent, view } = makeClient());
  });

  test("goes from synchronised through a buffer and back", () => {
    assert.equal(client.state, "synchronised");
    client.localEdit([3, "d"]);
    assert.deepEqual(sent, [{ type: "op", rev: 3, op: [3, "d"], id: "me:1" }]);
    assert.equal(client.state, "awaiting-ack");
    client.localEdit([4, "e"]);
    client.localEdit([5, "f"]);
    assert.equal(sent.length, 1, "one operation in flight at most");
    assert.equal(client.state, "awaiting-ack-with-buffer");
    assert.deepEqual(client.buffer, [4, "ef"]);
    client.receive({ type: "ack", rev: 4, id: "me:1" });
    assert.deepEqual(sent[1], { type: "op", rev: 4, op: [4, "ef"], id: "me:2" });
    client.receive({ type: "ack", rev: 5, id: "me:2" });
    assert.equal(client.state, "synchronised");
    assert.deepEqual([client.rev, client.text, client.serverText], [5, "abcdef", "abcdef"]);
  });

  test("transforms a remote operation over pending edits and shows the result", () => {
    client.localEdit([3, "X"]);
    client.localEdit([4, "Y"]);
    client.receive(remote(4, ["1", 3]));
    assert.equal(client.text, "1abcXY");
    assert.equal(view.text, "1abcXY");
    assert.deepEqual(view.changes.at(-1), ["1", 5]);
    assert.deepEqual(client.outstanding.op, [4, "X"]);
    assert.deepEqual(client.buffer, [5, "Y"]);
  });

  test("an early revision waits, and a gap that stays open is fetched", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const gappy = makeClient();
    gappy.client.receive(remote(5, [4, "!"], "other:2"));
    assert.deepEqual([gappy.client.rev, gappy.client.text], [3, "abc"]);
    t.mock.timers.tick(499);
    assert.deepEqual(gappy.sent, []);
    t.mock.timers.tick(1);
    assert.deepEqual(gappy.sent, [{ type: "fetch", rev: 3 }]);
    gappy.client.receive(remote(4, [3, "?"]));
    assert.deepEqual([gappy.client.rev, gappy.client.text], [5, "abc?!"]);
  });

  test("a gap that fills in time is not fetched", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const gappy = makeClient();
    gappy.client.receive(remote(5, [4, "!"], "other:2"));
    gappy.client.receive(remote(4, [3, "?"]));
    t.mock.timers.tick(1000);
    assert.deepEqual(gappy.sent, []);
  });

  test("an ack that overtakes a remote operation waits for it", () => {
    client.localEdit([3, "X"]);
    client.receive({ type: "ack", rev: 5, id: "me:1" });
    assert.equal(client.state, "awaiting-ack");
    client.receive(remote(4, ["1", 3]));
    assert.deepEqual([client.state, client.rev, client.text], ["synchronised", 5, "1abcX"]);
  });

  test("frames already applied are ignored", () => {
    client.receive(remote(4, [3, "?"]));
    client.receive(remote(4, [4, "?"]));
    client.receive(remote(2, [1, "?"]));
    assert.deepEqual([client.rev, client.text], [4, "abc?"]);
  });

  test("its own operation replayed after a reconnect counts as the ack", () => {
    client.localEdit([3, "X"]);
    client.disconnected();
    assert.equal(client.resumeQuery(), "?rev=3&pending=me%3A1");
    client.receive({ type: "resume", rev: 4, session: "s2" });
    assert.deepEqual(sent.at(-1), { type: "op", rev: 3, op: [3, "X"], id: "me:1" });
    client.receive(remote(4, [3, "X"], "me:1"));
    client.receive({ type: "ack", rev: 4, id: "me:1" });
    assert.deepEqual([client.state, client.rev, client.text], ["synchronised", 4, "abcX"]);
  });

  test("offline typing is rebased on a snapshot when the history is gone", () => {
    client.disconnected();
    client.localEdit([3, " typed offline"]);
    assert.equal(sent.length, 0, "nothing is sent while offline");
    client.receive(snapshot(90, "xabc", { pending: { id: "me:1", rev: null } }));
    assert.equal(client.text, "xabc typed offline");
    assert.equal(view.text, "xabc typed offline");
    assert.deepEqual(sent, [{ type: "op", rev: 90, op: [4, " typed offline"], id: "me:2" }]);
  });

  test("a pending edit the snapshot says was applied is not sent again", () => {
    client.localEdit([3, "X"]);
    client.localEdit([4, "Y"]);
    client.disconnected();
    client.receive(snapshot(90, "zabcX", { pending: { id: "me:1", rev: 50 } }));
    assert.equal(client.text, "zabcXY");
    assert.deepEqual(sent.at(-1), { type: "op", rev: 90, op: [5, "Y"], id: "me:2" });
  });

  test("a snapshot while an edit is in flight asks for a new connection", () => {
    client.localEdit([3, "X"]);
    client.receive(snapshot(90, "other"));
    assert.equal(view.resyncs, 1);
    assert.deepEqual([client.rev, client.text], [3, "abcX"]);
  });

  test("a snapshot when synchronised replaces the text through one change", () => {
    client.receive(snapshot(90, "abc and more"));
    assert.deepEqual([client.rev, client.text, view.text], [90, "abc and more", "abc and more"]);
    assert.deepEqual(view.changes.at(-1), [3, " and more"]);
  });

  for (const code of ["stale-revision", "internal-error"]) {
    test(`${code} about our edit resumes on a new connection and keeps the edit`, () => {
      client.localEdit([3, "X"]);
      client.receive({ type: "error", code, message: "", id: "me:1" });
      assert.equal(view.resyncs, 1);
      assert.equal(client.text, "abcX");
    });
  }

  test("a rejected edit is taken back and reported", () => {
    client.localEdit([3, "X"]);
    client.receive({ type: "error", code: "document-too-large", message: "too big", id: "me:1" });
    assert.deepEqual([client.state, client.text, view.text], ["synchronised", "abc", "abc"]);
    assert.equal(view.errors[0].code, "document-too-large");
    // The page is told before the change that takes it back (its undo stacks start over).
    assert.deepEqual(view.takeBacks, [0]);
    assert.equal(view.changes.length, 1);
  });

  test("what was typed after a rejected edit is kept and sent", () => {
    client.localEdit([1, -1, 1]); // delete "b": refused below
    client.localEdit([1, "Y", 1]); // typed after it, where "b" was
    client.receive({ type: "error", code: "invalid-op", message: "", id: "me:1" });
    assert.deepEqual([client.text, view.text], ["aYbc", "aYbc"]);
    assert.deepEqual(sent.at(-1), { type: "op", rev: 3, op: [1, "Y", 2], id: "me:2" });
  });

  test("a pong ahead of us reveals a lost last broadcast, fetched after the gap timeout", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const behind = makeClient();
    behind.client.receive({ type: "pong", rev: 3 });
    t.mock.timers.tick(1000);
    assert.deepEqual(behind.sent, []);
    behind.client.receive({ type: "pong", rev: 5 });
    t.mock.timers.tick(500);
    assert.deepEqual(behind.sent, [{ type: "fetch", rev: 3 }]);
  });

  test("a snapshot that leaves a known revision missing fetches it after the gap timeout", (t) => {
    // Found by the twins' parity test: the snapshot stopped the gap timer for good.
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const behind = makeClient();
    behind.client.receive({ type: "pong", rev: 6 });
    t.mock.timers.tick(500);
    assert.deepEqual(behind.sent, [{ type: "fetch", rev: 3 }]);
    behind.client.receive(snapshot(5, "abcde")); // the fetch's answer, while revision 6 was committed
    t.mock.timers.tick(500);
    assert.deepEqual(behind.sent, [
      { type: "fetch", rev: 3 },
      { type: "fetch", rev: 5 },
    ]);
  });

  test("an ack held behind a gap vouches for the edit when a snapshot answers the fetch", () => {
    client.localEdit([3, "X"]);
    client.receive({ type: "ack", rev: 5, id: "me:1" }); // revision 4 was lost
    client.localEdit([4, "Y"]);
    sent.length = 0;
    client.receive(snapshot(6, "abcX12")); // the fetch's answer: 4, ours at 5, then 6
    assert.equal(view.resyncs, 0);
    assert.deepEqual(sent, [{ type: "op", rev: 6, op: [4, "Y", 2], id: "me:2" }]);
    assert.deepEqual([client.rev, client.serverText, client.text], [6, "abcX12", "abcXY12"]);
  });

  test("an ack held behind a gap vouches for the edit after a reconnect", () => {
    client.localEdit([3, "X"]);
    client.receive({ type: "ack", rev: 5, id: "me:1" });
    client.disconnected();
    sent.length = 0;
    // Resumed too late: the server no longer knows the edit by its id.
    client.receive(snapshot(6, "1abcX2", { pending: { id: "me:1", rev: null } }));
    assert.deepEqual(sent, []);
    assert.deepEqual([client.rev, client.text, client.state], [6, "1abcX2", "synchronised"]);
  });

  test("an edit that would make the next frame too large is not taken", () => {
    const small = new EditorClient(
      { send() {}, onReset() {}, onRemoteOp() {}, onResync() {} },
      { maxFrameBytes: 200 },
    );
    small.receive(snapshot(0, ""));
    assert.equal(small.canTake(["x".repeat(50)]), true);
    small.localEdit(["x".repeat(50)]); // in flight
    small.localEdit([50, "y".repeat(50)]); // buffered
    assert.equal(
      small.canTake([100, "z".repeat(50)]),
      true,
      "the buffer alone is checked, not what is in flight",
    );
    assert.equal(small.canTake([100, "z".repeat(150)]), false);
  });

  test("resync asks for a snapshot, naming the pending edit, and rebases on it", () => {
    client.localEdit([3, "X"]);
    client.disconnected();
    client.resync();
    assert.equal(client.resumeQuery(), "?pending=me%3A1");
    client.receive(snapshot(9, "abc!", { pending: { id: "me:1", rev: null } }));
    assert.equal(client.text, "abcX!");
    assert.deepEqual(sent.at(-1), { type: "op", rev: 9, op: [3, "X", 1], id: "me:2" });
    assert.equal(client.resumeQuery(), "?rev=9&pending=me%3A2");
  });

  test("after a resync, an edit the server did apply is not sent again", () => {
    client.localEdit([3, "X"]);
    client.disconnected();
    client.resync();
    client.receive(snapshot(9, "abcX!", { pending: { id: "me:1", rev: 4 } }));
    assert.deepEqual([client.text, client.state], ["abcX!", "synchronised"]);
  });

  test("timers are called as plain functions, as a browser's setTimeout requires", () => {
    let fired = 0;
    function strictSetTimeout(callback) {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      fired++;
      return 1;
    }
    function strictClearTimeout() {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
    }
    const strict = new EditorClient(
      { send() {}, onReset() {}, onRemoteOp() {}, onResync() {} },
      { setTimer: strictSetTimeout, clearTimer: strictClearTimeout },
    );
    strict.receive(snapshot(3, "abc"));
    strict.receive(remote(5, [4, "!"], "other:2")); // a gap: the timer starts
    strict.receive(remote(4, [3, "?"])); // filled: the timer stops
    assert.equal(fired, 1);
  });

  test("default ids are random, never a guessable counter", () => {
    const tab = new EditorClient({ send() {}, onReset() {}, onRemoteOp() {}, onResync() {} });
    const ids = new Set(Array.from({ length: 100 }, () => tab.newId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });

  test("our caret is sent at most every caretIntervalMs, and only with nothing pending", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tab = makeClient({ caretIntervalMs: 100, now: () => Date.now() });
    tab.view.caret = [1, 1];
    tab.client.caretMoved();
    t.mock.timers.tick(0);
    assert.deepEqual(tab.sent, [{ type: "caret", rev: 3, caret: [1, 1] }]);
    tab.view.caret = [2, 2];
    tab.client.caretMoved();
    tab.view.caret = [3, 3];
    tab.client.caretMoved();
    t.mock.timers.tick(99);
    assert.equal(tab.sent.length, 1, "throttled");
    t.mock.timers.tick(1);
    assert.deepEqual(tab.sent.at(-1), { type: "caret", rev: 3, caret: [3, 3] }, "the latest, once");
    // With an edit in flight the caret waits for its acknowledgement.
    tab.client.localEdit([3, "X"]);
    tab.view.caret = [4, 4];
    tab.client.caretMoved();
    t.mock.timers.tick(500);
    assert.equal(tab.sent.at(-1).type, "op");
    tab.client.receive({ type: "ack", rev: 4, id: "me:1" });
    t.mock.timers.tick(0);
    assert.deepEqual(tab.sent.at(-1), { type: "caret", rev: 4, caret: [4, 4] });
  });

  test("an edit dropped as rate-limited is sent again after retry_after, rebased, and not reported", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tab = makeClient();
    tab.client.localEdit([3, "X"]);
    tab.client.receive({ type: "error", code: "rate-limited", retry_after: 250, id: "me:1" });
    tab.client.receive(remote(4, ["1", 3]));
    tab.client.localEdit([5, "Y"]);
    t.mock.timers.tick(249);
    assert.equal(tab.sent.length, 1, "not before retry_after");
    t.mock.timers.tick(1);
    assert.deepEqual(tab.sent.at(-1), { type: "op", rev: 4, op: [4, "X"], id: "me:1" }, "same id, current rev");
    assert.deepEqual(tab.view.errors, []);
    assert.equal(tab.client.text, "1abcXY", "nothing taken back");
    tab.client.receive({ type: "ack", rev: 5, id: "me:1" });
    // Told to slow down: the next edit goes retry_after after the last one, not at once.
    assert.equal(tab.sent.length, 2);
    t.mock.timers.tick(249);
    assert.equal(tab.sent.length, 2);
    t.mock.timers.tick(1);
    assert.deepEqual(tab.sent.at(-1), { type: "op", rev: 5, op: [5, "Y"], id: "me:2" });
  });

  test("after a rate-limited edit, edits are spaced for two seconds, typing meanwhile composed", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tab = makeClient();
    tab.client.localEdit([3, "a"]);
    tab.client.receive({ type: "error", code: "rate-limited", retry_after: 100, id: "me:1" });
    t.mock.timers.tick(100); // sent again
    let rev = 4;
    const ops = () => tab.sent.filter((frame) => frame.type === "op");
    const ackWhatWasSent = () => {
      const pending = tab.client.outstanding;
      if (pending && ops().some((frame) => frame.id === pending.id)) {
        tab.client.receive({ type: "ack", rev, id: pending.id });
        rev++;
      }
    };
    for (let key = 0; key < 15; key++) {
      tab.client.localEdit([tab.client.text.length, "k"]); // a key every 20 ms, at the end
      ackWhatWasSent(); // the server answers at once
      t.mock.timers.tick(20);
    }
    // Unpaced, each ack would send the next keystroke at once: 15 frames in these 300 ms.
    const sent = ops().length - 2;
    assert.ok(sent >= 2 && sent <= 4, `${sent} edit frames in 300 ms at 100 ms apart`);
    assert.equal(tab.client.text.length, 19, "no keystroke lost: they wait in the buffer");
    // Two seconds on, the spacing is over: an edit goes at once after its predecessor's ack.
    t.mock.timers.tick(2000);
    while (tab.client.outstanding) {
      tab.client.receive({ type: "ack", rev, id: tab.client.outstanding.id });
      rev++;
      t.mock.timers.tick(100);
    }
    const before = ops().length;
    tab.client.localEdit([tab.client.text.length, "z"]);
    assert.equal(ops().length, before + 1, "at once");
  });

  test("each refusal while edits are spaced doubles the spacing, up to a second", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const { client } = makeClient();
    client.localEdit([3, "a"]);
    for (const expected of [5, 10, 20, 40]) {
      client.receive({ type: "error", code: "rate-limited", retry_after: 5, id: client.outstanding.id });
      assert.equal(client.editSpacingMs, expected);
      t.mock.timers.tick(5);
    }
    t.mock.timers.tick(2000); // a quiet spell: the next slow spell starts where this one ended
    client.receive({ type: "error", code: "rate-limited", retry_after: 5, id: client.outstanding.id });
    assert.equal(client.editSpacingMs, 40);
    for (let i = 0; i < 10; i++) {
      client.receive({ type: "error", code: "rate-limited", retry_after: 5, id: client.outstanding.id });
    }
    assert.equal(client.editSpacingMs, 1000);
  });

  test("a retry meant for an earlier connection is not sent on the next one", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const tab = makeClient();
    tab.client.localEdit([3, "X"]);
    tab.client.receive({ type: "error", code: "rate-limited", retry_after: 100, id: "me:1" });
    tab.client.disconnected();
    tab.client.receive({ type: "resume", rev: 3, session: "s2" });
    assert.equal(tab.sent.length, 2, "resent by the new connection");
    t.mock.timers.tick(100);
    assert.equal(tab.sent.length, 2, "and only by it");
  });

  test("a dropped caret or fetch (no id) is sent again after retry_after, not sooner", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tab = makeClient({ caretIntervalMs: 100, now: () => Date.now() });
    tab.view.caret = [1, 1];
    tab.client.caretMoved();
    t.mock.timers.tick(0);
    tab.client.receive(remote(5, [4, "!"], "other:2")); // a gap: revision 4 is missing
    tab.client.receive({ type: "error", code: "rate-limited", retry_after: 700 });
    tab.view.caret = [2, 2];
    tab.client.caretMoved();
    t.mock.timers.tick(699);
    assert.deepEqual(
      tab.sent.map((frame) => frame.type),
      ["caret", "fetch"],
      "the gap's fetch went at 500 ms, before the refusal was known",
    );
    t.mock.timers.tick(1);
    assert.deepEqual(tab.sent.at(-1), { type: "caret", rev: 3, caret: [2, 2] });
    t.mock.timers.tick(500);
    assert.deepEqual(tab.sent.at(-1), { type: "fetch", rev: 3 }, "the gap, fetched again");
    assert.deepEqual(tab.view.errors, []);
  });

  test("people's carets follow remote edits and our pending ones", () => {
    client.receive(person("b", [1, 1], 3));
    client.localEdit(["X", 3]);
    client.receive(remote(4, [2, "yy", 1]));
    const [bob] = client.visiblePeople();
    assert.deepEqual([bob.name, bob.caret], ["Bob", [2, 2]]);
    client.receive({ type: "leave", session: "b" });
    assert.deepEqual(client.visiblePeople(), []);
  });

  test("a reconnection starts the list of people over", () => {
    client.receive(person("b", null, null));
    client.disconnected();
    client.receive({ type: "resume", rev: 3, session: "s2", name: "Me", color: "#000000", people: 1 });
    assert.deepEqual(client.visiblePeople(), []);
  });

  test("a relay frame says whether others' edits reach us; a pong ahead after it is fetched", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const relays = [];
    const tab = makeClient();
    tab.client.hooks.onRelay = (carried) => relays.push(carried);
    tab.client.receive({ type: "relay", ok: false });
    tab.client.receive({ type: "relay", ok: true });
    assert.deepEqual(relays, [false, true]);
    relays.length = 0;
    // What the server sends when its relay is back: the head, ahead of us, then the relay:
    // what we lack was lost, not late, and is fetched at once.
    tab.client.receive({ type: "relay", ok: false });
    tab.client.receive({ type: "pong", rev: 5 });
    assert.notDeepEqual(tab.sent.at(-1), { type: "fetch", rev: 3 }, "a pong alone waits for the gap timer");
    tab.client.receive({ type: "relay", ok: true });
    assert.deepEqual(tab.sent.at(-1), { type: "fetch", rev: 3 });
    t.mock.timers.tick(500);
    assert.equal(tab.sent.filter((f) => f.type === "fetch").length, 1, "once");
  });

  test("our role and the operator's lock come apart in the mode: a viewer is read-only, not locked", () => {
    const tab = makeClient();
    tab.client.disconnected();
    const welcome = { type: "resume", rev: 3, session: "s2", name: "Ada", color: "#111111" };
    tab.client.receive({ ...welcome, read_only: true, role: "viewer", locked: false });
    assert.deepEqual([tab.view.modes, tab.view.modeDetails], [[true], { role: "viewer", locked: false }]);
    assert.equal(tab.client.role, "viewer");
    tab.client.receive({ type: "mode", read_only: false, role: "editor", locked: false });
    assert.deepEqual([tab.view.modes, tab.view.modeDetails], [[true, false], { role: "editor", locked: false }]);
    tab.client.receive({ type: "mode", read_only: true, role: "editor", locked: true });
    assert.deepEqual(tab.view.modeDetails, { role: "editor", locked: true });
    // A server from before roles sends read_only alone: an operator's lock.
    tab.client.receive({ type: "mode", read_only: true });
    assert.deepEqual(tab.view.modeDetails, { role: "editor", locked: true });
  });

  test("the document's mode and our name come with the first frame and mode frames", () => {
    const tab = makeClient();
    assert.deepEqual(tab.view.modes, []);
    tab.client.disconnected();
    tab.client.receive({
      type: "resume",
      rev: 3,
      session: "s2",
      name: "Ada",
      color: "#111111",
      read_only: true,
    });
    tab.client.receive({ type: "mode", read_only: false });
    assert.deepEqual(tab.view.modes, [true, false]);
    assert.equal(tab.client.name, "Ada");
    tab.client.rename("Ada L.");
    assert.deepEqual(tab.sent.at(-1), { type: "rename", name: "Ada L." });
    tab.client.receive({
      type: "person",
      session: "s2",
      seq: 2,
      name: "Ada L.",
      color: "#222222",
      caret: null,
      rev: null,
    });
    assert.deepEqual(
      [tab.client.name, tab.client.color, tab.client.visiblePeople().length],
      ["Ada L.", "#222222", 0],
    );
  });

  test("an ack for something not pending is a protocol error", () => {
    assert.throws(() => client.receive({ type: "ack", rev: 4, id: "nobody" }), /not pending/);
  });

  test("the live text's authorship follows our acks, others' edits, our pending edits and a snapshot's jump", () => {
    client.authorship.expect(); // the page asks who wrote revision 3
    client.receive(person("t", null, null, { name: "Bob", color: "#abcdef" }));
    client.receive(remote(4, [3, "X"])); // while the answer is on its way
    client.localEdit(["a", 4]);
    client.receive({ type: "ack", rev: 5, id: "me:1" });
    assert.equal(client.visibleAuthorship(), null);
    assert.equal(client.authorship.seed({ rev: 3, authorship: [[3, "user:9"]], authors: {} }), true);
    assert.deepEqual(client.authorship.runs, [[1, "session:s"], [3, "user:9"], [1, "session:t"]]);
    client.localEdit([5, "b"]); // pending: drawn as ours
    assert.deepEqual(client.visibleAuthorship(), [[1, "session:s"], [3, "user:9"], [1, "session:t"], [1, "session:s"]]);
    assert.deepEqual(client.authorship.authors.get("session:t"), { name: "Bob", color: "#abcdef", signedIn: false });
    client.disconnected();
    client.receive(snapshot(9, "totally new", { pending: { id: "me:2", rev: null } }));
    assert.equal(client.visibleAuthorship(), null);
    assert.equal(client.authorship.wanted, true);
  });

  test("an edit the server made on an older revision is brought to our text: revisions since, then pending edits", () => {
    // At 3 "abc"; the server's revert on revision 3 deletes "b".
    client.receive(remote(4, ["X", 3])); // "Xabc"
    client.localEdit([4, "!"]); // "Xabc!", pending
    const moved = client.rebased([1, -1, 1], 3);
    assert.deepEqual(moved, [2, -1, 2]);
    assert.equal(apply(client.text, moved), "Xac!");
    assert.deepEqual(client.rebased([3], 5), null, "a revision not reached yet");
    assert.deepEqual(client.rebased([3, -1], 4), [3, -1, 1]);
  });

  test("an edit on a revision whose successors are no longer kept is not guessed at", () => {
    client.disconnected();
    client.receive({ type: "resume", rev: 3, session: "s2", name: "n", color: "#000000" });
    client.receive(remote(4, ["X", 3]));
    assert.deepEqual(client.rebased([1, -1, 1], 3), [2, -1, 1]);
    client.presence.history = []; // as after a new connection, or 200 revisions later
    assert.equal(client.rebased([1, -1, 1], 3), null);
  });

  test("unknown frame types are ignored", () => {
    client.receive({ type: "cursor", anything: 1 });
    assert.equal(client.rev, 3);
  });
});
