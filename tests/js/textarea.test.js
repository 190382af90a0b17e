// The textarea adapter: diffing what the user typed, CRLF views, keeping the caret.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { apply } from "../../editor/static/editor/ot.js";
import { randomText, seededRandom } from "./random.js";
import {
  docToViewPosition,
  editOperation,
  loneCarriageReturnsToNewlines,
  TextareaAdapter,
  viewOf,
  viewToDocPosition,
} from "../../editor/static/editor/textarea.js";

describe("editOperation", () => {
  test("typing a repeated letter inserts where the caret says", () => {
    // "aa" -> "aaa" with the caret at 2: the new "a" went in at 1, not at the end.
    assert.deepEqual(editOperation("aa", "aa", "aaa", 2), [1, "a", 1]);
    assert.deepEqual(editOperation("aa", "aa", "aaa", 3), [2, "a"]);
  });

  test("deleting and replacing a selection", () => {
    assert.deepEqual(editOperation("hello", "hello", "ho", 1), [1, -3, 1]);
    assert.deepEqual(editOperation("hello", "hello", "hEYo", 3), [1, "EY", -3, 1]);
  });

  test("positions count code points around emoji", () => {
    // UTF-16 caret 3 is after "a😀"; the op retains 2 code points.
    assert.deepEqual(editOperation("a😀b", "a😀b", "a😀!b", 4), [2, "!", 1]);
    assert.deepEqual(editOperation("a😀b", "a😀b", "ab", 1), [1, -1, 1]);
  });

  test("an emoji replacing one that shares its high surrogate is one whole character", () => {
    assert.deepEqual(editOperation("😀", "😀", "😁", 2), ["😁", -1]);
  });

  test("an unhelpful caret falls back to the plain diff", () => {
    assert.deepEqual(editOperation("abc", "abc", "abXc", 0), [2, "X", 1]);
  });

  test("edits in a CRLF document keep its other line ends", () => {
    const text = "one\r\ntwo\r\nthree";
    const view = viewOf(text);
    assert.equal(view, "one\ntwo\nthree");
    const typed = view.replace("two", "2");
    const op = editOperation(text, view, typed, 5);
    assert.equal(apply(text, op), "one\r\n2\r\nthree");
  });

  test("deleting a CRLF line end in the view deletes both characters", () => {
    const text = "a\r\nb";
    const op = editOperation(text, viewOf(text), "ab", 1);
    assert.equal(apply(text, op), "ab");
  });
});

describe("editOperation over random edits", () => {
  test("the document it produces shows exactly what the textarea shows", () => {
    const random = seededRandom(7);
    for (let n = 0; n < 3000; n++) {
      let text = randomText(random);
      const normalization = loneCarriageReturnsToNewlines(text);
      if (normalization) text = apply(text, normalization);
      const view = viewOf(text);
      // A user edit: replace a random range of the view (whole characters) by random text.
      const chars = Array.from(view);
      const start = Math.floor(random() * (chars.length + 1));
      const end = start + Math.floor(random() * (chars.length - start + 1));
      const typed = viewOf(randomText(random, 3));
      const newView = chars.slice(0, start).join("") + typed + chars.slice(end).join("");
      const caret = chars.slice(0, start).join("").length + typed.length;
      const op = editOperation(text, view, newView, caret);
      assert.equal(viewOf(apply(text, op)), newView, JSON.stringify({ text, newView, caret }));
    }
  });
});

describe("loneCarriageReturnsToNewlines", () => {
  test("rewrites each lone CR in place and leaves CRLF alone", () => {
    const text = "😀\rx\r\ny\r";
    const op = loneCarriageReturnsToNewlines(text);
    assert.deepEqual(op, [1, "\n", -1, 4, "\n", -1]);
    assert.equal(apply(text, op), "😀\nx\r\ny\n");
    assert.equal(loneCarriageReturnsToNewlines("a\r\nb"), null);
  });
});

describe("view and document positions", () => {
  test("map across CRLF pairs and lone CRs", () => {
    const text = "a\r\nb\rc";
    assert.equal(viewOf(text), "a\nb\nc");
    assert.equal(viewToDocPosition(text, 2), 3);
    assert.equal(viewToDocPosition(text, 4), 5);
    assert.equal(docToViewPosition(text, 3), 2);
    assert.equal(docToViewPosition(text, 2), 1, "between CR and LF counts as before the pair");
  });

  test("are the identity without a CR", () => {
    assert.equal(viewToDocPosition("abc", 2), 2);
    assert.equal(docToViewPosition("abc", 2), 2);
  });
});

class FakeTextarea {
  constructor() {
    this.value = "";
    this.selectionStart = 0;
    this.selectionEnd = 0;
    this.selectionDirection = "none";
    this.scrollTop = 0;
    this.listeners = {};
    this.ownerDocument = { activeElement: this };
  }

  addEventListener(type, listener) {
    this.listeners[type] = listener;
  }

  setSelectionRange(start, end, direction = "none") {
    [this.selectionStart, this.selectionEnd, this.selectionDirection] = [start, end, direction];
  }

  focus() {}

  type(value, caret) {
    this.value = value;
    this.setSelectionRange(caret, caret);
    this.listeners.input();
  }
}

describe("TextareaAdapter", () => {
  test("turns input into operations", () => {
    const area = new FakeTextarea();
    const edits = [];
    const adapter = new TextareaAdapter(area, { onEdit: (op) => edits.push(op) });
    adapter.reset("hello");
    area.type("hello!", 6);
    assert.deepEqual(edits, [[5, "!"]]);
  });

  test("a remote insert before the caret moves it, one after does not", () => {
    const area = new FakeTextarea();
    const adapter = new TextareaAdapter(area, { onEdit() {} });
    adapter.reset("hello world");
    area.setSelectionRange(6, 11, "forward"); // "world" selected
    adapter.applyRemote(["😀", 11], "😀hello world");
    assert.deepEqual([area.selectionStart, area.selectionEnd], [8, 13]); // the emoji is 2 UTF-16 units
    assert.equal(area.selectionDirection, "forward");
    adapter.applyRemote([13, "!"], "😀hello world!");
    assert.deepEqual([area.selectionStart, area.selectionEnd], [8, 13]);
  });

  test("a remote edit on a CRLF document keeps the caret on its line", () => {
    const area = new FakeTextarea();
    const adapter = new TextareaAdapter(area, { onEdit() {} });
    adapter.reset("ab\r\ncd");
    area.setSelectionRange(4, 4); // after "c" in the view "ab\ncd"
    adapter.applyRemote(["X", 6], "Xab\r\ncd");
    assert.equal(area.value, "Xab\ncd");
    assert.deepEqual([area.selectionStart, area.selectionEnd], [5, 5]);
  });

  test("a lone CR is turned into LF before an edit next to it, so the two never fuse", () => {
    const area = new FakeTextarea();
    const edits = [];
    const adapter = new TextareaAdapter(area, { onEdit: (op) => edits.push(op) });
    adapter.reset("a\rb");
    assert.equal(area.value, "a\nb");
    area.type("a\n\nb", 3); // Enter after the line break
    let text = "a\rb";
    for (const op of edits) text = apply(text, op);
    assert.equal(viewOf(text), "a\n\nb");
    assert.equal(text, "a\n\nb");
    assert.equal(adapter.text, text);
  });

  test("an edit over a limit is undone in the textarea and not sent", () => {
    const area = new FakeTextarea();
    const edits = [];
    const adapter = new TextareaAdapter(area, { onEdit: (op) => edits.push(op), canAccept: () => false });
    adapter.reset("abc");
    area.type("abcdef", 6);
    assert.deepEqual(edits, []);
    assert.equal(area.value, "abc");
    assert.equal(area.selectionStart, 3);
  });
});
