// Plain-text operational transformation: the browser's twin of editor/ot.py.
//
// An operation is an array of components walking the whole document: a
// positive number retains that many characters, a string inserts it, a
// negative number deletes that many characters. Lengths and positions count
// Unicode code points, as the server does; JavaScript strings index UTF-16
// code units, so every length below goes through codePointLength.

/** Number of code points in `text` (a surrogate pair counts once). */
export function codePointLength(text, start = 0, end = text.length) {
  let count = 0;
  for (let i = start; i < end; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** UTF-16 index reached by moving `count` code points forward from `from`. */
export function advanceCodePoints(text, from, count) {
  let i = from;
  for (let n = 0; n < count; n++) {
    if (i >= text.length) throw new Error("position past the end of the text");
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    i++;
  }
  return i;
}

/** Code-point position of a UTF-16 index (an index inside a pair counts as after it). */
export function utf16ToCodePoint(text, index) {
  return codePointLength(text, 0, index);
}

/** UTF-16 index of a code-point position. */
export function codePointToUtf16(text, position) {
  return advanceCodePoints(text, 0, position);
}

export const isRetain = (c) => typeof c === "number" && c > 0;
export const isInsert = (c) => typeof c === "string";
export const isDelete = (c) => typeof c === "number" && c < 0;

/** Appends components while keeping the operation canonical, as _Builder in ot.py. */
class Builder {
  constructor() {
    this.components = [];
  }

  retain(count) {
    if (count <= 0) return;
    const ops = this.components;
    if (ops.length && isRetain(ops[ops.length - 1])) ops[ops.length - 1] += count;
    else ops.push(count);
  }

  insert(text) {
    if (!text) return;
    const ops = this.components;
    const last = ops.length - 1;
    if (last >= 0 && isInsert(ops[last])) {
      ops[last] += text;
    } else if (last >= 0 && isDelete(ops[last])) {
      if (last >= 1 && isInsert(ops[last - 1])) ops[last - 1] += text;
      else ops.splice(last, 0, text);
    } else {
      ops.push(text);
    }
  }

  delete(count) {
    if (count <= 0) return;
    const ops = this.components;
    if (ops.length && isDelete(ops[ops.length - 1])) ops[ops.length - 1] -= count;
    else ops.push(-count);
  }

  add(component) {
    if (isInsert(component)) this.insert(component);
    else if (component > 0) this.retain(component);
    else this.delete(-component);
  }
}

export function normalize(components) {
  const builder = new Builder();
  for (const c of components) builder.add(c);
  return builder.components;
}

export function baseLength(op) {
  let length = 0;
  for (const c of op) if (typeof c === "number") length += Math.abs(c);
  return length;
}

export function targetLength(op) {
  let length = 0;
  for (const c of op) {
    if (isInsert(c)) length += codePointLength(c);
    else if (c > 0) length += c;
  }
  return length;
}

export function isNoop(op) {
  return op.every(isRetain);
}

/** `text` with `op` applied. */
export function apply(text, op) {
  const length = baseLength(op);
  const textLength = codePointLength(text);
  if (length !== textLength) {
    throw new Error(`operation spans ${length} characters but the document has ${textLength}`);
  }
  const parts = [];
  let index = 0; // UTF-16 index into text
  for (const c of op) {
    if (isInsert(c)) {
      parts.push(c);
    } else if (c > 0) {
      const end = advanceCodePoints(text, index, c);
      parts.push(text.slice(index, end));
      index = end;
    } else {
      index = advanceCodePoints(text, index, -c);
    }
  }
  return parts.join("");
}

// Slices the first `count` code points off an insert string: [head, rest].
function splitInsert(text, count) {
  const cut = advanceCodePoints(text, 0, count);
  return [text.slice(0, cut), text.slice(cut)];
}

/** One operation with the effect of `a` then `b`. */
export function compose(a, b) {
  const result = new Builder();
  let i = 0;
  let j = 0;
  let x = a[i++];
  let y = b[j++];
  while (x !== undefined || y !== undefined) {
    if (x !== undefined && isDelete(x)) {
      result.delete(-x);
      x = a[i++];
      continue;
    }
    if (y !== undefined && isInsert(y)) {
      result.insert(y);
      y = b[j++];
      continue;
    }
    if (x === undefined || y === undefined)
      throw new Error("cannot compose: operations of different lengths");
    if (isRetain(x) && isRetain(y)) {
      const step = Math.min(x, y);
      result.retain(step);
      x -= step;
      y -= step;
    } else if (isInsert(x) && isDelete(y)) {
      const step = Math.min(codePointLength(x), -y);
      x = splitInsert(x, step)[1];
      y += step;
    } else if (isInsert(x)) {
      const step = Math.min(codePointLength(x), y);
      const [head, rest] = splitInsert(x, step);
      result.insert(head);
      x = rest;
      y -= step;
    } else {
      const step = Math.min(x, -y);
      result.delete(step);
      x -= step;
      y += step;
    }
    if (x === 0 || x === "") x = a[i++];
    if (y === 0 || y === "") y = b[j++];
  }
  return result.components;
}

/**
 * Rebase two concurrent operations on each other: returns [aPrime, bPrime]
 * with apply(apply(S, a), bPrime) === apply(apply(S, b), aPrime). At the same
 * position `a`'s insert comes first; clients pass their pending operation as
 * `a`, like the server passes the incoming one.
 */
export function transform(a, b) {
  if (baseLength(a) !== baseLength(b)) {
    throw new Error(`cannot transform: operations span ${baseLength(a)} and ${baseLength(b)} characters`);
  }
  const aPrime = new Builder();
  const bPrime = new Builder();
  let i = 0;
  let j = 0;
  let x = a[i++];
  let y = b[j++];
  while (x !== undefined || y !== undefined) {
    if (x !== undefined && isInsert(x)) {
      aPrime.insert(x);
      bPrime.retain(codePointLength(x));
      x = a[i++];
      continue;
    }
    if (y !== undefined && isInsert(y)) {
      aPrime.retain(codePointLength(y));
      bPrime.insert(y);
      y = b[j++];
      continue;
    }
    if (x === undefined || y === undefined)
      throw new Error("cannot transform: operations of different lengths");
    let step;
    if (isRetain(x) && isRetain(y)) {
      step = Math.min(x, y);
      aPrime.retain(step);
      bPrime.retain(step);
      x -= step;
      y -= step;
    } else if (isDelete(x) && isDelete(y)) {
      step = Math.min(-x, -y);
      x += step;
      y += step;
    } else if (isDelete(x)) {
      step = Math.min(-x, y);
      aPrime.delete(step);
      x += step;
      y -= step;
    } else {
      step = Math.min(x, -y);
      bPrime.delete(step);
      x -= step;
      y += step;
    }
    if (x === 0) x = a[i++];
    if (y === 0) y = b[j++];
  }
  return [aPrime.components, bPrime.components];
}

/** The operation undoing `op` on the text it produced from `text`: apply(apply(text, op), invert(op, text)) === text. */
export function invert(op, text) {
  const builder = new Builder();
  let index = 0; // UTF-16 index into text
  for (const c of op) {
    if (isInsert(c)) {
      builder.delete(codePointLength(c));
    } else if (c > 0) {
      builder.retain(c);
      index = advanceCodePoints(text, index, c);
    } else {
      const end = advanceCodePoints(text, index, -c);
      builder.insert(text.slice(index, end));
      index = end;
    }
  }
  return builder.components;
}

/**
 * Where a code-point position (a caret) ends up after `op`. An insert exactly
 * there leaves it before the inserted text, unless `own` (the caret of the
 * person who made `op`), which goes after it as a typist's caret does.
 */
export function transformIndex(index, op, own = false) {
  let newIndex = index;
  let position = 0;
  for (const c of op) {
    if (position > index) break;
    if (isInsert(c)) {
      if (position < index || (own && position === index)) newIndex += codePointLength(c);
    } else if (c > 0) {
      position += c;
    } else {
      newIndex -= Math.min(-c, index - position);
      position -= c;
    }
  }
  return newIndex;
}

/** The single-replacement operation turning `oldText` into `newText` (code points). */
export function fromDiff(oldText, newText) {
  let prefix = 0;
  const limit = Math.min(oldText.length, newText.length);
  while (prefix < limit && oldText.charCodeAt(prefix) === newText.charCodeAt(prefix)) prefix++;
  // Back to a code point boundary before the suffix is measured: two
  // characters that share their high surrogate (😀, 😁) are not a common
  // prefix, and the suffix may use what the prefix gave back, as in ot.py.
  while (prefix > 0 && (isLowSurrogate(oldText, prefix) || isLowSurrogate(newText, prefix))) prefix--;
  let suffix = 0;
  while (
    suffix < limit - prefix &&
    oldText.charCodeAt(oldText.length - 1 - suffix) === newText.charCodeAt(newText.length - 1 - suffix)
  ) {
    suffix++;
  }
  return replacementOp(oldText, newText, prefix, suffix);
}

// Never cut a surrogate pair in half: move the cut outwards to a code point boundary.
function isLowSurrogate(text, index) {
  const unit = text.charCodeAt(index);
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * The operation replacing oldText[prefix, oldText.length - suffix) by
 * newText[prefix, newText.length - suffix); prefix and suffix are UTF-16
 * lengths of text both strings share at their start and end.
 */
export function replacementOp(oldText, newText, prefix, suffix) {
  while (prefix > 0 && (isLowSurrogate(oldText, prefix) || isLowSurrogate(newText, prefix))) prefix--;
  while (
    suffix > 0 &&
    (isLowSurrogate(oldText, oldText.length - suffix) || isLowSurrogate(newText, newText.length - suffix))
  ) {
    suffix--;
  }
  const builder = new Builder();
  builder.retain(codePointLength(oldText, 0, prefix));
  builder.delete(codePointLength(oldText, prefix, oldText.length - suffix));
  builder.insert(newText.slice(prefix, newText.length - suffix));
  builder.retain(codePointLength(oldText, oldText.length - suffix, oldText.length));
  return builder.components;
}
