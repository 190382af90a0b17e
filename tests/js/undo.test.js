// The undo manager (editor/static/editor/undo.js): grouping, transforms over collaborators'
// edits, and seeded random properties: undo then redo is the identity, and undoing our own
// edit after others' edits takes back exactly our characters.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { apply, codePointLength, isNoop, normalize, transform } from "../../editor/static/editor/ot.js";
import { caretAfter, singleChange, UndoManager } from "../../editor/static/editor/undo.js";
import { randomOperation, seededRandom } from "./random.js";

const insertAt = (text, position, inserted) =>
  normalize([position, inserted, codePointLength(text) - position]);
const deleteAt = (text, position, count) => normalize([position, -count, codePointLength(text) - position - count]);

/** One person's page: their text, their undo manager, a clock they move. */
function page(text = "", options = {}) {
  let time = 0;
  const manager = new UndoManager({ now: () => time, ...options });
  const state = { text, manager };
  state.type = (op) => {
    manager.record(op, state.text);
    state.text = apply(state.text, op);
  };
  state.remote = (op) => {
    manager.transform(op);
    state.text = apply(state.text, op);
  };
  state.undo = () => {
    const op = manager.undo(state.text);
    if (op) state.text = apply(state.text, op);
    return op;
  };
  state.redo = () => {
    const op = manager.redo(state.text);
    if (op) state.text = apply(state.text, op);
    return op;
  };
  state.wait = (ms) => {
    time += ms;
  };
  return state;
}

describe("grouping", () => {
  test("keystrokes typed one after another within a second undo together", () => {
    const p = page("");
    for (const [i, c] of [..."hello"].entries()) {
      p.type(insertAt(p.text, i, c));
      p.wait(200);
    }
    assert.equal(p.text, "hello");
    p.undo();
    assert.equal(p.text, "");
    assert.equal(p.manager.canUndo, false);
  });

  test("a pause of a second, a move of the caret, or a change of kind starts a new group", () => {
    const p = page("");
    p.type(insertAt(p.text, 0, "ab"));
    p.wait(1000);
    p.type(insertAt(p.text, 2, "cd")); // after the pause
    p.wait(10);
    p.type(insertAt(p.text, 0, "X")); // elsewhere
    p.wait(10);
    p.type(deleteAt(p.text, 4, 1)); // a delete after inserts
    assert.equal(p.text, "Xabc");
    const seen = [];
    while (p.undo()) seen.push(p.text);
    assert.deepEqual(seen, ["Xabcd", "abcd", "ab", ""]);
  });

  test("backspaces and forward deletes at the same place join one group", () => {
    const p = page("abcdef");
    p.type(deleteAt(p.text, 3, 1)); // backspace at 4
    p.type(deleteAt(p.text, 2, 1)); // backspace at 3
    p.type(deleteAt(p.text, 2, 1)); // delete at 2
    assert.equal(p.text, "abf");
    p.undo();
    assert.equal(p.text, "abcdef");
  });

  test("a new edit after an undo clears the redo stack", () => {
    const p = page("");
    p.type(insertAt(p.text, 0, "a"));
    p.undo();
    assert.equal(p.manager.canRedo, true);
    p.type(insertAt(p.text, 0, "b"));
    assert.equal(p.manager.canRedo, false);
    assert.equal(p.redo(), null);
  });

  test("at most mostGroups groups are kept, the oldest forgotten first", () => {
    const p = page("", { groupMs: 0, mostGroups: 3 });
    for (let i = 0; i < 5; i++) p.type(insertAt(p.text, i, String(i)));
    while (p.undo());
    assert.equal(p.text, "01");
  });
});

describe("with collaborators", () => {
  test("undo after a collaborator's edit takes back only ours, moved to where it is now", () => {
    const p = page("shared");
    p.type(insertAt(p.text, 6, " mine"));
    p.remote(insertAt(p.text, 0, "theirs "));
    assert.equal(p.text, "theirs shared mine");
    const op = p.undo();
    assert.equal(p.text, "theirs shared");
    assert.equal(caretAfter(op), 13, "the caret goes where the undone change was");
    p.redo();
    assert.equal(p.text, "theirs shared mine");
  });

  test("an undo whose text a collaborator deleted meanwhile is dropped, not applied elsewhere", () => {
    const p = page("");
    p.type(insertAt(p.text, 0, "gone"));
    p.remote(deleteAt(p.text, 0, 4));
    assert.equal(p.manager.canUndo, false);
    assert.equal(p.undo(), null);
  });

  test("a deletion undone comes back between the characters others typed around it", () => {
    const p = page("abcXYZdef");
    p.type(deleteAt(p.text, 3, 3));
    p.remote(insertAt(p.text, 0, "1"));
    p.remote(insertAt(p.text, codePointLength(p.text), "2"));
    p.undo();
    assert.equal(p.text, "1abcXYZdef2");
  });
});

describe("properties, on seeded random edits", () => {
  const OWN = ["Ⓐ", "Ⓑ", "Ⓒ", "Ⓓ", "Ⓔ", "Ⓕ", "Ⓖ", "Ⓗ"];

  test("undo then redo is the identity, whatever was typed and received in between", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      const p = page("start text", { groupMs: random() < 0.5 ? 0 : 1000 });
      for (let step = 0; step < 12; step++) {
        const op = randomOperation(random, p.text);
        if (random() < 0.6) p.type(op);
        else p.remote(op);
        p.wait(Math.floor(random() * 1500));
      }
      const before = p.text;
      if (!p.undo()) continue;
      p.redo();
      assert.equal(p.text, before, `seed ${seed}`);
    }
  });

  test("undoing our edit after others' edits removes exactly our characters and no one else's", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      const p = page("", { groupMs: 0 });
      for (let step = 0; step < 6; step++) p.remote(randomOperation(random, p.text)); // others'
      const mark = OWN[seed % OWN.length];
      const position = Math.floor(random() * (codePointLength(p.text) + 1));
      p.type(insertAt(p.text, position, mark.repeat(1 + Math.floor(random() * 3))));
      for (let step = 0; step < 6; step++) {
        // others keep typing, never our mark (they may delete it)
        const op = randomOperation(random, p.text);
        if (op.some((c) => typeof c === "string" && c.includes(mark))) continue;
        p.remote(op);
      }
      const withOurs = p.text;
      p.undo();
      assert.equal(p.text, withOurs.replaceAll(mark, ""), `seed ${seed}`);
    }
  });

  test("two pages undoing concurrently converge: each undo is an ordinary edit", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      const start = "common ground";
      const a = page(start, { groupMs: 0 });
      const b = page(start, { groupMs: 0 });
      const opA = randomOperation(random, start);
      const opB = randomOperation(random, start);
      a.type(opA);
      b.type(opB);
      const [opAOnB, opBOnA] = transform(opA, opB);
      a.remote(opBOnA);
      b.remote(opAOnB);
      assert.equal(a.text, b.text);
      const undoA = a.manager.undo(a.text);
      const undoB = b.manager.undo(b.text);
      if (!undoA || !undoB) continue;
      const [undoAOnB, undoBOnA] = transform(undoA, undoB);
      const shared = a.text;
      assert.equal(apply(apply(shared, undoA), undoBOnA), apply(apply(shared, undoB), undoAOnB), `seed ${seed}`);
      assert.ok(!isNoop(undoA) && !isNoop(undoB));
    }
  });
});

test("singleChange and caretAfter", () => {
  assert.deepEqual(singleChange([3, "ab", 2]), [3, 0, "ab"]);
  assert.deepEqual(singleChange([3, "ab", -2, 1]), [3, 2, "ab"]);
  assert.equal(singleChange([1, "a", 1, "b"]), null);
  assert.equal(caretAfter([2, "😀x", 4]), 4);
  assert.equal(caretAfter([2, -3, 4]), 2);
  assert.equal(caretAfter([5]), null);
});
