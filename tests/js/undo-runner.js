// Runs undo scenarios for tests/ot/test_undo_properties.py (hypothesis drives the shipped
// undo.js): one JSON case per line on stdin, one JSON answer per line on stdout.
//
// A case: {text, groupMs, steps: [["type", op] | ["remote", op] | ["wait", ms]], then}: the
// steps on one page, then `then`: "undo" (the text after one undo) or "undo-redo" (after
// an undo and a redo). Every op is on the text the steps before it made.
import { createInterface } from "node:readline";

import { apply } from "../../editor/static/editor/ot.js";
import { UndoManager } from "../../editor/static/editor/undo.js";

function run({ text, groupMs, steps, then }) {
  let time = 0;
  const manager = new UndoManager({ now: () => time, groupMs });
  for (const [kind, value] of steps) {
    if (kind === "wait") time += value;
    else if (kind === "type") {
      manager.record(value, text);
      text = apply(text, value);
    } else {
      manager.transform(value);
      text = apply(text, value);
    }
  }
  const before = text;
  const undo = manager.undo(text);
  if (undo) text = apply(text, undo);
  const undone = text;
  if (then === "undo-redo" && undo) {
    const redo = manager.redo(text);
    if (redo) text = apply(text, redo);
  }
  return { before, undone, after: text, undid: Boolean(undo) };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = run(JSON.parse(line));
  } catch (error) {
    answer = { error: String(error?.stack ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
