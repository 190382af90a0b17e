// Undo and redo of your own edits, never a collaborator's (ot.js's UndoManager rules).
//
// Each local edit is recorded as its inverse; typing that continues where the last edit
// ended, within GROUP_MS, joins its group, as editors group keystrokes. Every edit that
// reaches the text from elsewhere (a collaborator's, or a refusal taking ours back) is
// transformed into both stacks, so an undo applies to the text as it is now and takes back
// exactly what we did, wherever others' typing moved it. Undoing is itself a local edit:
// the caller applies the operation it gets, sends it like typing, and its inverse goes on
// the redo stack. Pure: no DOM, no socket.

import { codePointLength, compose, invert, isNoop, transform, transformIndex } from "./ot.js";

export const GROUP_MS = 1000;
export const MOST_GROUPS = 500;

/** [start, deleted, inserted] of an operation that changes one place; null otherwise. */
export function singleChange(op) {
  let start = 0;
  let deleted = 0;
  let inserted = "";
  let places = 0;
  let changing = false;
  for (const component of op) {
    if (typeof component === "number" && component > 0) {
      if (!changing) start += component;
      changing = false;
      continue;
    }
    if (!changing) places++;
    changing = true;
    if (typeof component === "string") inserted += component;
    else deleted -= component;
  }
  return places === 1 ? [start, deleted, inserted] : null;
}

/** Where the caret goes after `op`: at the end of its last change, in the text it makes. */
export function caretAfter(op) {
  let position = 0;
  let caret = null;
  for (const component of op) {
    if (typeof component === "string") {
      position += codePointLength(component);
      caret = position;
    } else if (component > 0) {
      position += component;
    } else {
      caret = position;
    }
  }
  return caret;
}

function transformStack(stack, op) {
  const transformed = [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const [undo, rest] = transform(stack[i], op);
    if (!isNoop(undo)) transformed.push(undo);
    op = rest;
  }
  return transformed.reverse();
}

export class UndoManager {
  constructor({ groupMs = GROUP_MS, mostGroups = MOST_GROUPS, now = () => Date.now() } = {}) {
    this.groupMs = groupMs;
    this.mostGroups = mostGroups;
    this.now = now;
    this.undoStack = [];
    this.redoStack = [];
    this.last = null; // the open group: {kind, position, at}, position moved with the text
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /** What undo() would apply, without applying it (to check it against the limits first). */
  get nextUndo() {
    return this.undoStack.at(-1) ?? null;
  }

  get nextRedo() {
    return this.redoStack.at(-1) ?? null;
  }

  /** Our own edit `op`, made on `text`. */
  record(op, text) {
    if (isNoop(op)) return;
    const inverse = invert(op, text);
    const at = this.now();
    const change = singleChange(op);
    const kind = change === null ? "other" : change[2] && !change[1] ? "insert" : !change[2] ? "delete" : "other";
    const last = this.last;
    let joins = last !== null && this.undoStack.length > 0 && at - last.at < this.groupMs && kind === last.kind;
    if (joins && kind === "insert") joins = change[0] === last.position;
    if (joins && kind === "delete") joins = change[0] + change[1] === last.position || change[0] === last.position;
    if (joins && kind === "other") joins = false;
    if (joins) {
      this.undoStack[this.undoStack.length - 1] = compose(inverse, this.undoStack.at(-1));
    } else {
      this.undoStack.push(inverse);
      if (this.undoStack.length > this.mostGroups) this.undoStack.shift();
    }
    this.last = kind === "other" ? null : { kind, position: caretAfter(op), at };
    this.redoStack = [];
  }

  /** An edit that reached the text from elsewhere: a collaborator's, or one taken back. */
  transform(op) {
    this.undoStack = transformStack(this.undoStack, op);
    this.redoStack = transformStack(this.redoStack, op);
    if (this.last) this.last = { ...this.last, position: transformIndex(this.last.position, op) };
  }

  /** The caret moved, or something else ends the group being typed. */
  close() {
    this.last = null;
  }

  /** The text was replaced (a snapshot): nothing recorded applies to it any more. */
  reset() {
    this.undoStack = [];
    this.redoStack = [];
    this.last = null;
  }

  /** The operation that undoes our last group on `text` (null: nothing to undo). */
  undo(text) {
    return this.#move(this.undoStack, this.redoStack, text);
  }

  /** The operation that redoes the last undo on `text` (null: nothing to redo). */
  redo(text) {
    return this.#move(this.redoStack, this.undoStack, text);
  }

  #move(from, to, text) {
    const op = from.pop();
    if (op === undefined) return null;
    to.push(invert(op, text));
    this.last = null;
    return op;
  }
}
