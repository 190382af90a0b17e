// The protocol state machine of one tab: knows revisions, pending edits and
// the frames of docs/protocol.md, and nothing of the DOM or of WebSockets.
// Its Python twin is editor/ot/client.py; tests/js/client.test.js and
// tests/ot/test_client.py walk both through the same steps, and
// tests/ot/test_client_parity.py compares them over random sessions.
//
// States, as in ot.js: synchronised (nothing pending), awaiting ack (one
// operation sent, `outstanding`), awaiting ack with buffer (more local edits
// composed into `buffer`, sent once the outstanding one is acknowledged).
// Server events (other people's operations and our acks) are applied strictly
// in revision order; one that arrives early waits, and a gap that does not
// fill within `gapTimeoutMs` is fetched from the server.
//
// Presence rides along: other people's carets (presence.js) follow every
// revision, and our own caret is sent at most every `caretIntervalMs`, only
// when nothing of ours is pending, so that it always refers to a revision
// everyone will have. So does the live text's authorship (history.js): who typed each
// character, once a `history` frame has said who wrote the text so far.

import { LiveAuthorship } from "./history.js";
import { apply, compose, fromDiff, invert, isNoop, transform } from "./ot.js";
import { Presence } from "./presence.js";

// How long edits stay spaced after the server said one came too fast: longer than the second
// in which the server forgives a strike, so that a steady over-fast typist costs fewer
// strikes than are forgiven.
const SLOW_FOR_MS = 2000;
const MOST_EDIT_SPACING_MS = 1000;

export class EditorClient {
  /**
   * @param {object} hooks
   * @param {(frame: object) => boolean} hooks.send  sends a frame; false when offline
   * @param {(op: Array, text: string) => void} hooks.onRemoteOp  apply a change to the view
   * @param {(text: string) => void} hooks.onReset  show a whole text (first snapshot)
   * @param {() => void} hooks.onResync  drop the socket and resume on a new one
   * @param {() => void} [hooks.onPeople]  someone joined, left, moved or renamed
   * @param {(readOnly: boolean, mode: {role: string, locked: boolean}) => void} [hooks.onMode]
   *   what we may do changed: our role (viewer, editor, owner), or an operator's lock
   * @param {(carried: boolean) => void} [hooks.onRelay]  others' edits reach us (or may be late)
   * @param {() => [number, number]} [hooks.getCaret]  our selection, in code points of `text`
   * @param {(error: object) => void} [hooks.onError]
   * @param {() => string} [hooks.newId]  unique operation ids
   */
  constructor(
    hooks,
    {
      gapTimeoutMs = 500,
      caretIntervalMs = 100,
      maxFrameBytes = Infinity,
      maxOpComponents = 1000, // the server's MAX_OP_COMPONENTS
      setTimer = setTimeout,
      clearTimer = clearTimeout,
      now = () => Date.now(),
    } = {},
  ) {
    this.hooks = hooks;
    this.gapTimeoutMs = gapTimeoutMs;
    this.caretIntervalMs = caretIntervalMs;
    this.maxFrameBytes = maxFrameBytes;
    this.maxOpComponents = maxOpComponents;
    this.now = now;
    // Called as plain functions: a browser's setTimeout refuses another `this`.
    this.setTimer = (callback, ms) => setTimer(callback, ms);
    this.clearTimer = (timer) => clearTimer(timer);
    this.newId = hooks.newId ?? defaultIdFactory();
    this.rev = null; // last revision applied; null before the first snapshot
    this.serverText = ""; // the document at `rev`
    this.text = ""; // what the view shows: serverText + outstanding + buffer
    this.outstanding = null; // {id, op}: sent (or to send on reconnect), not yet acknowledged
    this.buffer = null; // local edits made while `outstanding` waits
    this.early = new Map(); // rev -> frame that arrived before rev - 1
    this.knownHead = 0; // highest revision the server said exists (pong)
    this.fresh = false; // ask for a snapshot, not a resume, on the next connection
    this.gapTimer = null;
    this.session = null;
    this.person = null; // the same for all our tabs (and, signed in, devices): one entry in the list
    this.name = null; // how the server shows us to the others
    this.color = null;
    this.signedIn = false; // as our own person frame says
    this.live = false;
    this.presence = new Presence();
    this.authorship = new LiveAuthorship();
    this.caretDirty = false; // our caret moved since we last sent it
    this.caretTimer = null;
    this.caretSentAt = -Infinity;
    // Pacing edits after a rate-limited one (sendOutstanding).
    this.editSentAt = -Infinity;
    this.editSpacingMs = 0;
    this.slowUntil = -Infinity;
    this.editTimer = null;
    this.connection = 0; // counts connections, so that a retry meant for an old one is dropped
  }

  get state() {
    if (!this.outstanding) return "synchronised";
    return this.buffer ? "awaiting-ack-with-buffer" : "awaiting-ack";
  }

  /**
   * Query string of the socket URL: resume after our revision, naming our
   * pending edit so that a snapshot can say whether it was applied.
   */
  resumeQuery() {
    if (this.rev === null) return "";
    const params = new URLSearchParams();
    if (!this.fresh) params.set("rev", this.rev);
    if (this.outstanding) params.set("pending", this.outstanding.id);
    const query = params.toString();
    return query ? `?${query}` : "";
  }

  /** The socket closed; pending edits are kept and sent again after reconnecting. */
  disconnected() {
    this.live = false;
    this.forgetEarly();
    this.stopGapTimer();
  }

  /**
   * Drop the frames waiting for their predecessors, remembering our edit's
   * ack if it is one: the edit is then known to be applied, even if the
   * history that would say so is gone by the time we ask.
   */
  forgetEarly() {
    for (const frame of this.early.values()) {
      if (frame.type === "ack" && frame.id === this.outstanding?.id) this.outstanding.appliedAt = frame.rev;
    }
    this.early.clear();
  }

  /** Our outstanding edit's ack came, though it waits (or waited) for a revision before it. */
  knowsOutstandingApplied() {
    if (this.outstanding?.appliedAt !== undefined) return true;
    return [...this.early.values()].some((frame) => frame.type === "ack" && frame.id === this.outstanding?.id);
  }

  /**
   * Whether a local edit can be taken: what would be sent next (the edit, or
   * the buffer it joins) must fit in one frame.
   */
  canTake(op) {
    const next = this.outstanding ? (this.buffer ? compose(this.buffer, op) : op) : op;
    if (next.length > this.maxOpComponents) return false; // edits at many places, composed
    return frameBytes({ type: "op", rev: this.rev ?? 0, op: next, id: "x".repeat(32) }) <= this.maxFrameBytes;
  }

  /**
   * Our state no longer matches the server's (a bug, or a server that lost
   * data): on the next connection take a snapshot and rebase pending edits on it.
   */
  resync() {
    this.fresh = true;
  }

  /** A local edit, already shown in the view. */
  localEdit(op) {
    if (isNoop(op)) return;
    this.text = apply(this.text, op);
    if (this.outstanding) {
      this.buffer = this.buffer ? compose(this.buffer, op) : op;
    } else {
      this.outstanding = { id: this.newId(), op };
      if (this.live) this.sendOutstanding();
    }
  }

  /** Handle one decoded frame from the server. */
  receive(frame) {
    switch (frame.type) {
      case "batch":
        for (const inner of frame.frames) this.receive(inner);
        break;
      case "snapshot":
        this.receiveSnapshot(frame);
        break;
      case "resume":
        this.presence.startOver(this.rev, this.session);
        if (this.authorship.runs === null) this.authorship.jump(this.rev); // a question on the old connection is lost
        this.goLive(frame);
        break;
      case "op":
      case "ack":
        this.receiveRevision(frame);
        break;
      case "person":
        if (frame.session === this.session) {
          this.name = frame.name; // how the server shows us, after a rename
          this.color = frame.color;
          this.signedIn = Boolean(frame.signed_in);
        } else {
          this.presence.update(frame);
        }
        this.hooks.onPeople?.();
        break;
      case "leave":
        this.presence.leave(frame.session);
        this.hooks.onPeople?.();
        break;
      case "mode":
        this.receiveMode(frame);
        break;
      case "relay":
        // Whether other workers' edits reach us now (the server's channel layer).
        // Back after an outage, the pong before it said where the head is: what
        // we lack was lost, not late, so it is fetched now rather than waited for.
        if (frame.ok && this.hasGap && this.live) {
          this.stopGapTimer();
          this.hooks.send({ type: "fetch", rev: this.rev });
        }
        this.hooks.onRelay?.(frame.ok);
        break;
      case "pong":
        if (frame.rev > (this.rev ?? Infinity)) {
          // A revision exists that never reached us (a lost last broadcast).
          this.knownHead = Math.max(this.knownHead, frame.rev);
          this.watchGap();
        }
        break;
      case "error":
        this.receiveError(frame);
        break;
      default:
      // Unknown frame types are later additions to the protocol: ignore them.
    }
  }

  receiveSnapshot(frame) {
    if (this.live && this.outstanding && !this.knowsOutstandingApplied()) {
      // The answer to a fetch while our edit is in flight on this very
      // connection: its fate is unknown, so rebasing it here could apply it
      // twice. On a new connection the server tells us what became of it.
      this.hooks.onResync();
      return;
    }
    this.forgetEarly();
    const newConnection = !this.live;
    this.stopGapTimer();
    this.fresh = false;
    if (this.rev === null) {
      this.rev = frame.rev;
      this.serverText = this.text = frame.text;
      this.authorship.jump(this.rev);
      this.hooks.onReset(frame.text);
    } else {
      // History since our revision is gone: rebase pending edits on the
      // difference between the text we knew and the text now. If the server
      // says our outstanding edit was applied, it is part of both.
      const pending = frame.pending ?? {};
      const applied =
        this.outstanding?.appliedAt !== undefined ||
        (pending.id === this.outstanding?.id && pending.rev != null);
      if (this.outstanding && applied) {
        this.serverText = apply(this.serverText, this.outstanding.op);
        this.outstanding = this.buffer ? { id: this.newId(), op: this.buffer } : null;
        this.buffer = null;
      } else if (this.outstanding) {
        // Not applied (or too long ago to be recognised): once rebased it is
        // a different edit, so it gets a new id.
        this.outstanding.id = this.newId();
      }
      const change = fromDiff(this.serverText, frame.text);
      this.applyRevision({ type: "op", rev: frame.rev, op: change }, { track: false });
      this.presence.jump(this.rev, change);
      this.authorship.jump(this.rev);
    }
    if (newConnection) this.presence.startOver(this.rev, this.session);
    this.goLive(frame);
    this.watchGap(); // a revision a pong announced may still be missing
  }

  receiveError(frame) {
    if (frame.code === "rate-limited") {
      this.slowDown(frame);
      return;
    }
    if (frame.id !== undefined && frame.id === this.outstanding?.id) {
      if (frame.code === "stale-revision" || frame.code === "internal-error") {
        // Too old for the server to merge, or its fate unknown (the server
        // failed to store it): resume on a new connection, which tells us
        // what became of it and brings it up to date.
        this.hooks.onResync();
        return;
      }
      this.rejectPending();
    }
    this.hooks.onError?.(frame);
  }

  /**
   * The server refused our outstanding edit: take it back from the view and
   * keep what was typed after it (the buffer), rebased on the server's text.
   */
  rejectPending() {
    this.hooks.onTakeBack?.(); // what undo recorded of it no longer applies
    const undo = invert(this.outstanding.op, this.serverText);
    const buffer = this.buffer;
    this.outstanding = null;
    this.buffer = null;
    if (buffer) {
      const [rebased, undoAfterBuffer] = transform(buffer, undo);
      this.text = apply(this.serverText, rebased);
      this.hooks.onRemoteOp(undoAfterBuffer, this.text);
      this.outstanding = { id: this.newId(), op: rebased };
      if (this.live) this.sendOutstanding();
    } else {
      this.text = this.serverText;
      this.hooks.onRemoteOp(undo, this.text);
    }
  }

  /**
   * The server dropped a frame of ours, over its limits (docs/security.md):
   * send it again once `retry_after` ms have passed. Without an id it was a
   * caret, a fetch or a ping: the caret is sent again, a gap fetched again.
   */
  slowDown(frame) {
    const wait = frame.retry_after ?? 1000;
    const connection = this.connection;
    const dropped = frame.id;
    if (dropped !== undefined) {
      // An edit over the edit rate: space edits for a while. `wait` is only until the server's
      // next token, less than its rate's interval: a refusal while spaced doubles the spacing,
      // and the spacing found is where the next slow spell starts.
      const spaced = this.now() < this.slowUntil ? 2 * this.editSpacingMs : this.editSpacingMs;
      this.editSpacingMs = Math.min(MOST_EDIT_SPACING_MS, Math.max(wait, spaced));
      this.slowUntil = this.now() + SLOW_FOR_MS;
    } else {
      this.caretDirty = true;
      this.caretSentAt = Math.max(this.caretSentAt, this.now() + wait - this.caretIntervalMs);
    }
    this.setTimer(() => {
      if (!this.live || this.connection !== connection) return; // a new connection sent it all again
      if (dropped !== undefined && dropped === this.outstanding?.id) this.sendOutstandingNow(); // waited
      else if (dropped === undefined) {
        this.scheduleCaret();
        this.stopGapTimer();
        this.watchGap();
      }
    }, wait);
  }

  goLive(frame) {
    this.connection += 1;
    this.slowUntil = -Infinity; // a new connection has its whole budget
    this.editSentAt = -Infinity;
    this.live = true;
    this.session = frame.session;
    this.person = frame.person ?? frame.session;
    this.name = frame.name ?? this.name;
    this.color = frame.color ?? this.color;
    if (frame.read_only !== undefined) this.receiveMode(frame);
    this.hooks.onPeople?.();
    if (this.outstanding) this.sendOutstanding();
    else if (this.caretDirty) this.scheduleCaret();
  }

  receiveMode(frame) {
    this.role = frame.role ?? "editor"; // servers before roles send read_only alone
    this.hooks.onMode?.(frame.read_only, { role: this.role, locked: frame.locked ?? frame.read_only });
  }

  /** Our caret or selection moved; it is sent soon, as `hooks.getCaret` reports it then. */
  caretMoved() {
    this.caretDirty = true;
    this.scheduleCaret();
  }

  scheduleCaret() {
    if (this.caretTimer !== null) return;
    const wait = Math.max(0, this.caretSentAt + this.caretIntervalMs - this.now());
    this.caretTimer = this.setTimer(() => {
      this.caretTimer = null;
      this.flushCaret();
    }, wait);
  }

  flushCaret() {
    // With edits pending, our caret is in a text the others do not have yet:
    // wait for the acknowledgement (which schedules this again).
    if (!this.caretDirty || !this.live || this.outstanding || !this.hooks.getCaret) return;
    this.caretDirty = false;
    this.caretSentAt = this.now();
    this.hooks.send({ type: "caret", rev: this.rev, caret: this.hooks.getCaret() });
  }

  /** Revision `rev` is `op`, made by `session`: carets and authorship follow it. */
  tracked(rev, op, session) {
    this.presence.revision(rev, op, session);
    const own = { name: this.name, color: this.color, signedIn: this.signedIn };
    const who = session === this.session ? own : this.presence.people.get(session);
    try {
      this.authorship.revision(rev, op, session, who);
    } catch (error) {
      // Out of step (a bug, not a state): the text goes on, the authorship is asked again.
      console.error("authorship out of step", error);
      this.authorship.jump(rev);
    }
  }

  get pending() {
    return [this.outstanding?.op, this.buffer].filter(Boolean);
  }

  /**
   * An edit made on server revision `rev` (the server's, for us to make as ours: a revert),
   * on our text now: brought through the revisions since and our pending edits. null if the
   * revision is not reached yet, or the revisions since are no longer all kept.
   */
  rebased(op, rev) {
    if (this.rev === null || rev > this.rev) return null;
    const since = this.presence.history.filter((step) => step.rev > rev).map((step) => step.op);
    if (since.length !== this.rev - rev) return null;
    let moved = op;
    for (const other of [...since, ...this.pending]) [moved] = transform(moved, other);
    return moved;
  }

  /** Other people, with carets where they are in our text (pending edits included). */
  visiblePeople() {
    return this.presence.visible(this.pending);
  }

  /** Who wrote each character of our text (pending edits included); null while unknown. */
  visibleAuthorship() {
    return this.authorship.visible(this.pending, this.session);
  }

  /** Ask to be shown under another name. */
  rename(name) {
    this.name = name;
    return this.hooks.send({ type: "rename", name });
  }

  /**
   * Send the outstanding edit, no sooner than `editSpacingMs` after the last one while we were
   * told to slow down lately (SLOW_FOR_MS): typing faster than the server's edit rate then
   * composes into the buffer instead of costing a strike per edit until the connection closes.
   */
  sendOutstanding() {
    const spacing = this.now() < this.slowUntil ? this.editSpacingMs : 0;
    const wait = this.editSentAt + spacing - this.now();
    if (wait <= 0) {
      this.sendOutstandingNow();
      return;
    }
    if (this.editTimer !== null) return;
    const connection = this.connection;
    this.editTimer = this.setTimer(() => {
      this.editTimer = null;
      if (this.live && this.connection === connection && this.outstanding) this.sendOutstanding();
    }, wait);
  }

  sendOutstandingNow() {
    this.editSentAt = this.now();
    const frame = { type: "op", rev: this.rev, op: this.outstanding.op, id: this.outstanding.id };
    if (frameBytes(frame) > this.maxFrameBytes) {
      // canTake keeps this from happening; if it does, the server would refuse it anyway.
      this.hooks.onError?.({ code: "frame-too-large", message: "an edit too large to send was taken back" });
      this.rejectPending();
      return;
    }
    this.hooks.send(frame);
  }

  receiveRevision(frame) {
    if (this.rev === null || frame.rev <= this.rev) return; // already applied: a resend, or a crossing
    if (!this.early.has(frame.rev) || frame.type === "ack") this.early.set(frame.rev, frame);
    while (this.early.has(this.rev + 1)) {
      const next = this.early.get(this.rev + 1);
      this.early.delete(this.rev + 1);
      this.applyRevision(next);
    }
    this.watchGap();
  }

  /** Behind what we know exists: a revision is missing. */
  get hasGap() {
    return this.early.size > 0 || (this.rev !== null && this.knownHead > this.rev);
  }

  /** Fetch a gap that is still open after gapTimeoutMs. */
  watchGap() {
    if (!this.hasGap) this.stopGapTimer();
    else if (this.gapTimer === null) {
      this.gapTimer = this.setTimer(() => {
        this.gapTimer = null;
        if (this.hasGap && this.live) this.hooks.send({ type: "fetch", rev: this.rev });
      }, this.gapTimeoutMs);
    }
  }

  stopGapTimer() {
    if (this.gapTimer !== null) {
      this.clearTimer(this.gapTimer);
      this.gapTimer = null;
    }
  }

  /** Apply revision `frame.rev`; `track: false` when it is not a real revision but a snapshot's jump. */
  applyRevision(frame, { track = true } = {}) {
    const ours = this.outstanding !== null && frame.id === this.outstanding.id;
    if (frame.type === "ack" && !ours) {
      throw new Error(`acknowledgement of ${frame.id} at revision ${frame.rev}, but it is not pending`);
    }
    if (ours) {
      // Our own operation, acknowledged (or replayed to us after a reconnect).
      this.serverText = apply(this.serverText, this.outstanding.op);
      this.rev = frame.rev;
      this.tracked(frame.rev, this.outstanding.op, this.session);
      this.outstanding = this.buffer ? { id: this.newId(), op: this.buffer } : null;
      this.buffer = null;
      if (this.outstanding && this.live) this.sendOutstanding();
      else if (this.caretDirty) this.scheduleCaret();
      return;
    }
    this.serverText = apply(this.serverText, frame.op);
    this.rev = frame.rev;
    if (track) this.tracked(frame.rev, frame.op, frame.session);
    let remote = frame.op;
    if (this.outstanding) {
      let outstanding;
      [outstanding, remote] = transform(this.outstanding.op, remote);
      this.outstanding = { ...this.outstanding, op: outstanding };
    }
    if (this.buffer) [this.buffer, remote] = transform(this.buffer, remote);
    this.text = apply(this.text, remote);
    this.hooks.onRemoteOp(remote, this.text);
  }
}

/**
 * Each edit's id is random: ids are broadcast, and an id another client
 * could predict would let it pre-empt our next edit. (getRandomValues works
 * on plain http too, where crypto.randomUUID does not exist.)
 */
function defaultIdFactory() {
  return () => {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  };
}

const encoder = new TextEncoder();

function frameBytes(frame) {
  return encoder.encode(JSON.stringify(frame)).length;
}
