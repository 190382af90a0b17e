// The page's limits at exactly their value and one past it, as the server counts them:
// frames in UTF-8 bytes (EditorClient.canTake, sendOutstanding), documents in code points
// (main.js canAccept), names in code points (main.js rename). tests/test_limits.py probes
// the server's side of the same boundaries.
//
// Tests marked `todo` expose a page that disagrees with the server at a boundary; they
// are reported by the runner without failing it, and pass once the page is fixed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { EditorClient } from "../../editor/static/editor/client.js";
import { compose } from "../../editor/static/editor/ot.js";

const encoder = new TextEncoder();
const utf8Size = (text) => encoder.encode(text).length;
// What the server measures: the UTF-8 bytes of the frame as the socket sends it (JSON.stringify).
const frameSize = (frame) => utf8Size(JSON.stringify(frame));
const ID = "x".repeat(32); // the size of the browser's ids (128 random bits in hex), as canTake assumes
// One of each UTF-8 width, and all of them at once.
const WIDE = ["a", "é", "€", "😀", "é€😀"];
const codePoints = (text) => Array.from(text).length;

/** Text of `wide` (ASCII for the rest) that makes the frame `frameOf(text)` exactly `size` bytes. */
function textForSize(size, wide, frameOf) {
  const room = size - frameSize(frameOf(""));
  const width = utf8Size(wide);
  const text = wide.repeat(Math.floor(room / width)) + "a".repeat(room % width);
  assert.equal(frameSize(frameOf(text)), size);
  return text;
}

/** The op appending to a document of `length` whose frame on `rev` is exactly `size` bytes. */
function appendOfSize(size, wide, { rev = 3, length = 3 } = {}) {
  const text = textForSize(size, wide, (t) => ({ type: "op", rev, op: [length, t], id: ID }));
  return [length, text];
}

function makeClient(maxFrameBytes, { rev = 3, text = "abc" } = {}) {
  const sent = [];
  const errors = [];
  const view = { text: null };
  let counter = 0;
  const client = new EditorClient(
    {
      send: (frame) => sent.push(frame),
      onReset: (t) => (view.text = t),
      onRemoteOp: (op, t) => (view.text = t),
      onResync: () => {},
      onError: (error) => errors.push(error),
      newId: () => String(++counter).padStart(32, "0"), // as long as the browser's
    },
    { maxFrameBytes },
  );
  client.receive({ type: "snapshot", rev, text, session: "s", people: 1 });
  return { client, sent, errors, view };
}

describe("EditorClient.canTake at maxFrameBytes", () => {
  for (const wide of WIDE) {
    test(`takes an edit whose frame is exactly maxFrameBytes and refuses one byte more (${wide})`, () => {
      const { client } = makeClient(500);
      assert.equal(client.canTake(appendOfSize(500, wide)), true);
      assert.equal(client.canTake(appendOfSize(501, wide)), false);
    });
  }

  test("counts UTF-8 bytes, not code points or UTF-16 units", () => {
    const { client } = makeClient(500);
    const op = appendOfSize(501, "😀");
    assert.ok(codePoints(op[1]) < 150 && op[1].length < 300, "far fewer characters than bytes");
    assert.equal(client.canTake(op), false);
  });

  test("the frame sent for an edit at the limit is exactly maxFrameBytes, as the server measures", () => {
    const { client, sent } = makeClient(500);
    const op = appendOfSize(500, "é€😀");
    assert.equal(client.canTake(op), true);
    client.localEdit(op);
    assert.equal(sent.length, 1);
    assert.equal(utf8Size(JSON.stringify(sent[0])), 500);
  });

  test("with an edit in flight, measures the next edit alone, then the buffer it joins", () => {
    const { client } = makeClient(500);
    client.localEdit([3, "d"]); // in flight; the next edit is sent on its own
    assert.equal(client.canTake(appendOfSize(500, "😀", { length: 4 })), true);
    assert.equal(client.canTake(appendOfSize(501, "😀", { length: 4 })), false);
    client.localEdit([4, "e"]); // the buffer: what comes next is sent composed with it
    for (const [size, expected] of [
      [500, true],
      [501, false],
    ]) {
      // compose([4, "e"], [5, T]) is [4, "eT"]: make that frame the size.
      const frameOf = (t) => ({ type: "op", rev: 3, op: [4, `e${t}`], id: ID });
      const op = [5, textForSize(size, "é€😀", frameOf)];
      assert.equal(frameSize({ type: "op", rev: 3, op: compose([4, "e"], op), id: ID }), size);
      assert.equal(client.canTake(op), expected, `${size} bytes`);
    }
  });
});

describe("EditorClient.sendOutstanding at maxFrameBytes", () => {
  for (const [size, sends] of [
    [500, true],
    [501, false],
  ]) {
    test(`an edit made offline whose frame is ${size} bytes is ${sends ? "sent" : "taken back"}`, () => {
      const { client, sent, errors, view } = makeClient(500);
      client.disconnected();
      client.localEdit(appendOfSize(size, "😀")); // offline: nothing is sent, nothing measured
      client.receive({ type: "resume", rev: 3, session: "s", people: 1 });
      if (sends) {
        assert.equal(sent.length, 1);
        assert.equal(frameSize(sent[0]), 500);
        assert.deepEqual(errors, []);
      } else {
        assert.deepEqual(sent, []);
        assert.deepEqual(
          errors.map((e) => e.code),
          ["frame-too-large"],
        );
        assert.equal(view.text, "abc");
        assert.equal(client.state, "synchronised");
      }
    });
  }

  test(
    "a buffer canTake took at exactly the limit is sent, though the acked revision has one more digit",
    {
      todo:
        "INCONSISTENT: canTake measures the buffer on the current revision (9), but it is sent on the " +
        "acknowledged one (10): one byte more, so sendOutstanding takes back what canTake accepted",
    },
    () => {
      const { client, sent, errors } = makeClient(500, { rev: 9 });
      client.localEdit([3, "d"]); // in flight at revision 9
      const op = appendOfSize(500, "😀", { rev: 9, length: 4 });
      assert.equal(client.canTake(op), true);
      client.localEdit(op);
      client.receive({ type: "ack", rev: 10, id: sent[0].id });
      assert.deepEqual(errors, []);
      assert.equal(sent.length, 2);
    },
  );

  test(
    "canTake refuses a buffer of more components than the server takes (MAX_OP_COMPONENTS, 1000)",
    () => {
      const { client } = makeClient(10 ** 6, { rev: 1, text: "x".repeat(600) });
      client.localEdit([600, "!"]); // in flight
      let length = 601;
      for (let k = 0; k < 500; k++) {
        client.localEdit([2 * k + 1, "y", length - (2 * k + 1)]); // a "y" after each of the first 500 "x"
        length++;
      }
      const op = [1001, "y", length - 1001];
      const next = compose(client.buffer, op);
      assert.ok(next.length > 1000, `${next.length} components`);
      assert.equal(client.canTake(op), false);
    },
  );
});

// main.js, the page itself, on a minimal fake DOM: what its config says is what it enforces.

class FakeElement {
  constructor(document, textContent = "") {
    this.ownerDocument = document;
    this.textContent = textContent;
    this.value = "";
    this.hidden = false;
    this.dataset = {};
    this.style = { setProperty() {} };
    this.classList = { add() {} };
    this.selectionStart = 0;
    this.selectionEnd = 0;
    this.listeners = {};
  }

  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }

  dispatch(type) {
    for (const listener of this.listeners[type] ?? []) listener({ type, target: this });
  }

  setSelectionRange(start, end) {
    this.selectionStart = start;
    this.selectionEnd = end;
  }

  setAttribute() {}
  after() {}
  append() {}
  replaceChildren() {}
  focus() {}
}

const MAX_CHARS = 10;
// Seven astral characters fill a frame exactly: a frame limit reached well under MAX_CHARS.
const MAX_BYTES = frameSize({ type: "op", rev: 1, op: ["😀".repeat(7)], id: ID });
const CONFIG = {
  slug: "limits",
  socketPath: "/ws/docs/limits/",
  maxDocumentChars: MAX_CHARS,
  maxFrameBytes: MAX_BYTES,
  maxOpComponents: 1000,
  maxNameLength: 40,
  maxVersionName: 80,
  mostAuthorsReverted: 20,
  user: null,
};

const fakeDocument = {
  activeElement: null,
  elements: new Map(),
  getElementById(id) {
    if (!this.elements.has(id)) this.elements.set(id, new FakeElement(this));
    return this.elements.get(id);
  },
  createElement: () => new FakeElement(fakeDocument),
  createDocumentFragment: () => new FakeElement(fakeDocument),
  addEventListener() {},
};
fakeDocument.getElementById("editor-config").textContent = JSON.stringify(CONFIG);

const sockets = [];
class FakeWebSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 1; // open: the page's sends go through
    this.sent = [];
    sockets.push(this);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close() {}
}

const storage = new Map();
Object.assign(globalThis, {
  document: fakeDocument,
  window: { addEventListener() {} },
  location: { protocol: "http:", host: "localhost" },
  localStorage: {
    getItem: (key) => storage.get(key) ?? null,
    setItem: (key, value) => storage.set(key, value),
  },
  WebSocket: FakeWebSocket,
  ResizeObserver: class {
    observe() {}
  },
  getComputedStyle: () => ({}),
});
await import("../../editor/static/editor/main.js");

const textarea = fakeDocument.getElementById("editor");
const message = fakeDocument.getElementById("message");
const nameInput = fakeDocument.getElementById("name");
const socket = sockets[0];
const deliver = (frame) => socket.onmessage({ data: JSON.stringify(frame) });
const client = () => globalThis.window.editor.client;

/** Show `text` at revision 1, with nothing pending (acknowledging what was). */
function show(text) {
  const pending = client().outstanding;
  if (pending) deliver({ type: "ack", rev: client().rev + 1, id: pending.id });
  assert.equal(client().state, "synchronised");
  deliver({ type: "snapshot", rev: 1, text, session: "me", name: "Me", people: 1 });
  assert.equal(textarea.value, text);
  socket.sent.length = 0;
}

/** The user leaves the textarea holding `value`, the caret at `caret` (UTF-16). */
function type(value, caret = value.length) {
  textarea.value = value;
  textarea.setSelectionRange(caret, caret);
  textarea.dispatch("input");
}

const ops = () => socket.sent.filter((frame) => frame.type === "op");
const TEN = "😀é€abcdefg"; // ten code points, eleven UTF-16 units, sixteen bytes

describe("the page (main.js) at maxDocumentChars", () => {
  test("sends a paste that makes the document exactly maxDocumentChars code points", () => {
    assert.equal(codePoints(TEN), MAX_CHARS);
    assert.equal(TEN.length, MAX_CHARS + 1);
    show("");
    type(TEN);
    assert.deepEqual(
      ops().map((frame) => frame.op),
      [[TEN]],
    );
    assert.equal(message.hidden, true);
  });

  test("refuses a paste of one code point more and puts the text back", () => {
    show("");
    type(`${TEN}😀`);
    assert.deepEqual(ops(), []);
    assert.equal(textarea.value, "");
    assert.equal(message.textContent, `The document is limited to ${MAX_CHARS} characters.`);
  });

  test("at the limit, refuses typing one more character but takes a replacement", () => {
    show(TEN);
    type(`${TEN}k`);
    assert.deepEqual(ops(), []);
    assert.equal(textarea.value, TEN);
    type(`Z${TEN.slice(2)}`, 1); // the emoji (two UTF-16 units) replaced by "Z"
    assert.deepEqual(
      ops().map((frame) => frame.op),
      [["Z", -1, 9]],
    );
  });

  test(
    "lets a document already over a lowered limit shrink, as the server does",
    () => {
      show("x".repeat(MAX_CHARS + 2));
      type("x".repeat(MAX_CHARS + 1));
      assert.deepEqual(
        ops().map((frame) => frame.op),
        [[MAX_CHARS + 1, -1]], // the last character, where the caret is
      );
    },
  );
});

describe("the page (main.js) at maxFrameBytes", () => {
  test("sends a paste whose frame is exactly maxFrameBytes", () => {
    show("");
    type("😀".repeat(7));
    assert.equal(ops().length, 1);
    assert.equal(utf8Size(JSON.stringify(ops()[0])), MAX_BYTES);
  });

  test("refuses a paste one byte larger, though far under maxDocumentChars", () => {
    show("");
    type(`${"😀".repeat(7)}a`);
    assert.ok(codePoints(`${"😀".repeat(7)}a`) < MAX_CHARS);
    assert.deepEqual(ops(), []);
    assert.equal(textarea.value, "");
    assert.equal(message.textContent, "That is too much text to send at once; paste it in smaller parts.");
  });
});

describe("the page (main.js) at the name length (40)", () => {
  const renames = () => socket.sent.filter((frame) => frame.type === "rename").map((frame) => frame.name);

  test("sends a name of 40 characters whole and cuts 41 to 40, as the server does", () => {
    socket.sent.length = 0;
    nameInput.value = "n".repeat(40);
    nameInput.dispatch("change");
    nameInput.value = "m".repeat(41);
    nameInput.dispatch("change");
    assert.deepEqual(renames(), ["n".repeat(40), "m".repeat(40)]);
  });

  test(
    "keeps a name of 40 code points whole when it has astral characters",
    () => {
      socket.sent.length = 0;
      const name = `a${"😀".repeat(39)}`; // 40 code points, 79 UTF-16 units
      nameInput.value = name;
      nameInput.dispatch("change");
      assert.deepEqual(renames(), [name]);
    },
  );
});
