// Other people on the document and where their carets are, kept in step
// with the text. Pure: no DOM, no socket.
//
// A caret arrives as positions on some revision. The tracker keeps every
// caret in the coordinates of the client's current revision (`rev`): it
// transforms them through each revision as it is applied, brings a caret
// about an older revision forward through recent history, and holds one
// about a revision not yet reached until it is. For display, `visible`
// moves them through the client's own pending edits too.

import { transformIndex } from "./ot.js";

const HISTORY = 200;

export class Presence {
  constructor() {
    this.rev = null;
    this.people = new Map(); // session -> {session, person, seq, name, color, signedIn, role, caret: [start, end] | null}
    this.waiting = new Map(); // session -> person frame about a revision not reached yet
    this.history = []; // [{rev, op, session}] the latest revisions, oldest first
    // Sessions that left, and our own earlier connections (a half-closed one
    // may still answer for itself): frames about them are late, not news.
    this.gone = new Set();
  }

  /** A new connection, as `ownSession`: the server tells us again who is here. */
  startOver(rev, ownSession) {
    this.rev = rev;
    this.people.clear();
    this.waiting.clear();
    this.history = [];
    if (ownSession) this.gone.add(ownSession);
  }

  /** The text jumped to `rev` through `op` (a snapshot's difference): older history and waiting carets are unusable. */
  jump(rev, op) {
    for (const person of this.people.values()) {
      if (person.caret) person.caret = person.caret.map((i) => transformIndex(i, op));
      if (this.waiting.has(person.session)) person.caret = null;
    }
    this.waiting.clear();
    this.history = [];
    this.rev = rev;
  }

  /** A `person` frame. */
  update(frame) {
    if (this.gone.has(frame.session)) return;
    const known = this.people.get(frame.session);
    if (known && frame.seq !== undefined && frame.seq <= known.seq) return; // overtaken by a newer one
    const person = {
      session: frame.session,
      person: frame.person ?? frame.session,
      seq: frame.seq ?? 0,
      name: frame.name,
      color: frame.color,
      signedIn: Boolean(frame.signed_in),
      role: frame.role ?? "editor",
      caret: known?.caret ?? null,
    };
    this.people.set(frame.session, person);
    this.waiting.delete(frame.session);
    if (frame.caret == null || frame.rev == null) person.caret = null;
    else if (frame.rev > this.rev) this.waiting.set(frame.session, frame);
    else person.caret = this.bring(frame.caret, frame.rev, frame.session);
  }

  leave(session) {
    this.people.delete(session);
    this.waiting.delete(session);
    this.gone.add(session);
  }

  /** Revision `rev` was applied: `op`, made by `session`. */
  revision(rev, op, session) {
    this.history.push({ rev, op, session });
    if (this.history.length > HISTORY) this.history.shift();
    for (const person of this.people.values()) {
      if (person.caret)
        person.caret = person.caret.map((i) => transformIndex(i, op, person.session === session));
    }
    this.rev = rev;
    for (const [waitingSession, frame] of this.waiting) {
      if (frame.rev <= rev) {
        this.waiting.delete(waitingSession);
        const person = this.people.get(waitingSession);
        if (person) person.caret = this.bring(frame.caret, frame.rev, waitingSession);
      }
    }
  }

  // A caret on revision `fromRev`, brought to the current one; null if history no longer reaches back.
  bring(caret, fromRev, session) {
    const steps = this.history.filter((step) => step.rev > fromRev);
    if (steps.length !== this.rev - fromRev) return null;
    return caret.map((index) =>
      steps.reduce((moved, step) => transformIndex(moved, step.op, step.session === session), index),
    );
  }

  /** Everyone, with carets in the local text (the current revision plus our `pending` edits). */
  visible(pending) {
    return [...this.people.values()].map((person) => ({
      ...person,
      caret:
        person.caret && pending.reduce((caret, op) => caret.map((i) => transformIndex(i, op)), person.caret),
    }));
  }
}
