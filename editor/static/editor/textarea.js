// The textarea adapter: turns what the user typed into operations and shows
// remote operations without moving the caret or selection wrongly.
//
// A textarea's value never holds "\r": browsers turn "\r\n" and a lone "\r"
// into "\n". The document may hold them (other clients can send them), so the
// adapter keeps the document text and shows its "view", and maps positions
// between the two. All positions in operations count code points.

import {
  apply,
  codePointLength,
  codePointToUtf16,
  normalize,
  replacementOp,
  transformIndex,
  utf16ToCodePoint,
} from "./ot.js";

/** What a textarea shows for a document text. */
export function viewOf(text) {
  return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
}

/**
 * The operation turning every lone "\r" of `text` into "\n", or null if there
 * is none. The view does not change, but an edit next to a lone "\r" could
 * otherwise fuse it with an inserted "\n" into one "\r\n" line end.
 */
export function loneCarriageReturnsToNewlines(text) {
  const components = [];
  let segmentStart = 0;
  for (const match of text.matchAll(/\r(?!\n)/g)) {
    components.push(codePointLength(text, segmentStart, match.index), "\n", -1);
    segmentStart = match.index + 1;
  }
  if (components.length === 0) return null;
  components.push(codePointLength(text, segmentStart, text.length));
  return normalize(components);
}

/** Code-point position in the document of a code-point position in its view. */
export function viewToDocPosition(text, viewPosition) {
  if (!text.includes("\r")) return viewPosition;
  let doc = 0;
  let view = 0;
  let i = 0;
  while (view < viewPosition && i < text.length) {
    const unit = text.charCodeAt(i);
    const pairLength = unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length ? 2 : 1;
    if (unit === 13 && text.charCodeAt(i + 1) === 10) {
      i += 2;
      doc += 2;
    } else {
      i += pairLength;
      doc += 1;
    }
    view += 1;
  }
  return doc;
}

/** Code-point position in the view of a code-point position in the document. */
export function docToViewPosition(text, docPosition) {
  if (!text.includes("\r")) return docPosition;
  const prefixEnd = codePointToUtf16(text, docPosition);
  // Inside a "\r\n" pair counts as before it.
  const end =
    text.charCodeAt(prefixEnd - 1) === 13 && text.charCodeAt(prefixEnd) === 10 ? prefixEnd - 1 : prefixEnd;
  const prefix = text.slice(0, end);
  return codePointLength(prefix) - (prefix.match(/\r\n/g)?.length ?? 0);
}

/**
 * The operation (over the document) for an edit that changed the view from
 * `oldView` to `newView`. `caret` (UTF-16, in newView) is where the edit
 * ended; it decides between equally short diffs: typing "a" after the first
 * "a" of "aa" inserts at 1, not at 2.
 */
export function editOperation(text, oldView, newView, caret) {
  let prefix = 0;
  let suffix = 0;
  const tail = newView.length - caret;
  if (caret !== undefined && tail >= 0 && tail <= oldView.length && oldView.endsWith(newView.slice(caret))) {
    suffix = tail;
    const limit = Math.min(oldView.length - suffix, caret);
    while (prefix < limit && oldView.charCodeAt(prefix) === newView.charCodeAt(prefix)) prefix++;
  } else {
    const limit = Math.min(oldView.length, newView.length);
    while (prefix < limit && oldView.charCodeAt(prefix) === newView.charCodeAt(prefix)) prefix++;
    while (
      suffix < limit - prefix &&
      oldView.charCodeAt(oldView.length - 1 - suffix) === newView.charCodeAt(newView.length - 1 - suffix)
    ) {
      suffix++;
    }
  }
  const viewOp = replacementOp(oldView, newView, prefix, suffix);
  return text === oldView ? viewOp : mapViewOperation(text, viewOp);
}

// Rewrites an operation over the view of `text` into one over `text` itself.
function mapViewOperation(text, viewOp) {
  const [start, deleted, inserted] = replacementParts(viewOp);
  const docStart = viewToDocPosition(text, start);
  const docEnd = viewToDocPosition(text, start + deleted);
  const docLength = codePointLength(text);
  return normalize([docStart, inserted, -(docEnd - docStart), docLength - docEnd]);
}

// [start, deleted count, inserted text] of a single-replacement operation.
function replacementParts(op) {
  let start = 0;
  let deleted = 0;
  let inserted = "";
  let i = 0;
  if (typeof op[i] === "number" && op[i] > 0) start = op[i++];
  if (typeof op[i] === "string") inserted = op[i++];
  if (typeof op[i] === "number" && op[i] < 0) deleted = -op[i++];
  return [start, deleted, inserted];
}

/** Binds an EditorClient to a <textarea>. */
export class TextareaAdapter {
  constructor(textarea, { onEdit, canAccept = () => true }) {
    this.textarea = textarea;
    this.onEdit = onEdit;
    this.canAccept = canAccept;
    this.text = ""; // the document text the view shows
    this.view = "";
    textarea.addEventListener("input", () => this.readInput());
  }

  /** Replace the whole text (first snapshot). */
  reset(text) {
    this.text = text;
    this.view = viewOf(text);
    this.textarea.value = this.view;
  }

  /** A remote edit: `text` is the new document text, `op` what changed. */
  applyRemote(op, text) {
    const area = this.textarea;
    const focused = area.ownerDocument?.activeElement === area;
    const [start, end] = [area.selectionStart, area.selectionEnd].map((index) => {
      const docPosition = viewToDocPosition(this.text, utf16ToCodePoint(this.view, index));
      return docToViewPosition(text, transformIndex(docPosition, op));
    });
    const direction = area.selectionDirection;
    const scrollTop = area.scrollTop;
    this.text = text;
    this.view = viewOf(text);
    area.value = this.view;
    area.setSelectionRange(codePointToUtf16(this.view, start), codePointToUtf16(this.view, end), direction);
    area.scrollTop = scrollTop;
    if (focused && area.ownerDocument.activeElement !== area) area.focus();
  }

  readInput() {
    const newView = this.textarea.value;
    if (newView === this.view) return;
    const normalization = loneCarriageReturnsToNewlines(this.text);
    if (normalization) {
      const before = this.text;
      this.text = apply(before, normalization);
      this.onEdit(normalization, { before, typed: false });
    }
    const op = editOperation(this.text, this.view, newView, this.textarea.selectionEnd);
    if (!this.canAccept(op, newView)) {
      // Over a limit: put the text back as it was, caret where the edit began.
      const caret = Math.max(0, this.textarea.selectionEnd - (newView.length - this.view.length));
      this.textarea.value = this.view;
      this.textarea.setSelectionRange(caret, caret);
      return;
    }
    const before = this.text;
    this.text = apply(before, op);
    this.view = newView;
    this.onEdit(op, { before, typed: true });
  }

  /**
   * Our own edit made by the page, not typed (an undo, a redo, a restore): shown with the
   * caret at `caret` (a code point of the new document text), or where it was.
   */
  applyOwn(op, caret = null) {
    const area = this.textarea;
    const scrollTop = area.scrollTop;
    this.text = apply(this.text, op);
    this.view = viewOf(this.text);
    area.value = this.view;
    if (caret !== null) {
      const index = codePointToUtf16(this.view, docToViewPosition(this.text, caret));
      area.setSelectionRange(index, index);
    }
    area.scrollTop = scrollTop;
  }
}
