// Who wrote what, in the page: the timeslider's text cut in pieces by author, and the live
// text's authorship kept in step with every revision (the browser's twin of
// editor/ot/history.py's authorship_after). Pure: no DOM.
//
// Authorship is a list of [length in code points, author key] runs covering a text in order;
// a character's author is whoever inserted it, through every later edit. Keys are the
// server's (`user:<id>`, `session:<id>`, null before the history); text typed live is keyed
// `session:<id>` of the session that typed it.

import { codePointLength, codePointToUtf16 } from "./ot.js";

/**
 * [{text, author}] of `text` cut by `authorship` ([[length in code points, author], ...],
 * covering it in order). Runs past the end are cut short; text past the runs has no author.
 */
export function authoredPieces(text, authorship) {
  const pieces = [];
  let start = 0; // UTF-16
  let position = 0; // code points
  const total = codePointLength(text);
  for (const [length, author] of authorship) {
    const end = codePointToUtf16(text, Math.min(total, position + length));
    if (end > start) pieces.push({ text: text.slice(start, end), author });
    position += length;
    start = end;
    if (start >= text.length) break;
  }
  if (start < text.length) pieces.push({ text: text.slice(start), author: null });
  return pieces;
}

/** The authorship after `author`'s operation `op` on a text whose authorship is `runs`. */
export function authorshipAfter(runs, op, author) {
  const out = [];
  const add = (length, who) => {
    if (!length) return;
    const last = out[out.length - 1];
    if (last && last[1] === who) last[0] += length;
    else out.push([length, who]);
  };
  let index = 0;
  let left = runs.length ? runs[0][0] : 0;
  for (const component of op) {
    if (typeof component === "string") {
      add(codePointLength(component), author);
      continue;
    }
    let wanted = Math.abs(component);
    while (wanted) {
      if (index >= runs.length) throw new Error("the operation spans more than the authorship covers");
      const taken = Math.min(wanted, left);
      if (component > 0) add(taken, runs[index][1]);
      wanted -= taken;
      left -= taken;
      if (!left) {
        index++;
        left = index < runs.length ? runs[index][0] : 0;
      }
    }
  }
  if (index < runs.length) throw new Error("the operation spans fewer characters than the authorship covers");
  return out;
}

/** The key of text typed live by `session`. */
export const sessionKey = (session) => `session:${session}`;

/** How many characters `runs` covers. */
export const coveredLength = (runs) => runs.reduce((sum, [length]) => sum + length, 0);

/**
 * The live text's authorship at the client's revision. Unknown until seeded from a `history`
 * frame (the server's authorship at some revision): from `expect()` on, every revision is
 * kept, so that a seed about a revision the page has already passed is brought forward. A
 * snapshot's jump (the text changed in ways no revision says) makes it unknown again. Asked
 * again while known (`expect()` then), a seed replaces what was worked out here: the server
 * names authors the page never saw (the admin's, the API's, people who left).
 */
export class LiveAuthorship {
  constructor({ most = 5000 } = {}) {
    this.rev = null; // the client's revision
    this.runs = null; // the authorship at `rev`, once known
    this.since = null; // [{rev, op, key}] kept while a seed is awaited, else null
    this.authors = new Map(); // key -> {name, color, signedIn}
    this.most = most;
  }

  /** Whether a `history` frame should be asked for (unknown, and not awaiting one). */
  get wanted() {
    return this.runs === null && this.since === null;
  }

  /** Whether some of the text is by someone the page has no name for. */
  get unnamed() {
    return this.runs !== null && this.runs.some(([, key]) => key !== null && !this.authors.has(key));
  }

  /** A seed is about to be asked for: keep every revision until it arrives. */
  expect() {
    this.since = [];
  }

  /** The question went unanswered: stop keeping revisions for it. */
  giveUp() {
    this.since = null;
  }

  /** The client is at `rev` without a revision to say how (a first snapshot, a jump). */
  jump(rev) {
    this.rev = rev;
    this.runs = null;
    this.since = null;
  }

  /** Revision `rev` was applied: `op`, typed by `session` (`who`: their name and colour now). */
  revision(rev, op, session, who) {
    const key = sessionKey(session);
    if (who) this.authors.set(key, { name: who.name, color: who.color, signedIn: Boolean(who.signedIn) });
    this.rev = rev;
    if (this.runs !== null) this.runs = authorshipAfter(this.runs, op, key);
    if (this.since !== null) {
      this.since.push({ rev, op, key });
      if (this.since.length > this.most) this.since = null; // the answer is lost: ask again
    }
  }

  /**
   * A `history` frame ({rev, authorship, authors}); true if it made the authorship known.
   * It is used if every revision after it up to ours was kept.
   */
  seed(frame) {
    for (const [key, author] of Object.entries(frame.authors ?? {})) {
      this.authors.set(key, { name: author.name, color: author.color, signedIn: Boolean(author.signed_in) });
    }
    if (this.since === null || frame.rev > this.rev) return false;
    const later = this.since.filter((step) => step.rev > frame.rev);
    if (later.length !== this.rev - frame.rev) return false; // asked before a jump
    let runs = frame.authorship.map(([length, key]) => [length, key]);
    for (const step of later) runs = authorshipAfter(runs, step.op, step.key);
    this.runs = runs;
    this.since = null;
    return true;
  }

  /** The authorship of the page's text: ours plus our `pending` edits, typed by `ownSession`. */
  visible(pending, ownSession) {
    if (this.runs === null) return null;
    return pending.reduce((runs, op) => authorshipAfter(runs, op, sessionKey(ownSession)), this.runs);
  }

  /**
   * Each author of `runs` ({name, color, keys, characters}), most characters first. A
   * signed-in user is one author over their sessions (a user name is theirs alone); people
   * not signed in are each session, whatever name they chose.
   */
  tally(runs) {
    const byAuthor = new Map();
    for (const [length, key] of runs) {
      const who =
        key === null
          ? { name: "before the history", color: null, signedIn: false }
          : (this.authors.get(key) ?? { name: "someone", color: null, signedIn: false });
      const identity = key === null ? "" : who.signedIn ? `user ${who.name}` : key;
      const known = byAuthor.get(identity) ?? { name: who.name, color: who.color, keys: new Set(), characters: 0 };
      known.keys.add(key);
      known.characters += length;
      byAuthor.set(identity, known);
    }
    return [...byAuthor.values()].sort((a, b) => b.characters - a.characters || a.name.localeCompare(b.name));
  }
}
