// Many browser tabs in one Node process, running the shipped client code
// (editor/static/editor/client.js and socket.js, unmodified) wired as main.js
// wires them, minus the DOM. Driven by tests/nodetabs.py for fault tests.
//
//   node --experimental-websocket tests/nodetabs/tabs.mjs
//
// undici's WebSocket (Node's global one) sends no Origin header by itself and
// the server refuses handshakes without one, so each tab's socket class passes
// `{headers: {Origin}}`, as a browser sends it (and see browserLikeWebSocket).
//
// One JSON object a line on stdin, one a line on stdout. A command with an
// "id" is answered by {"reply": id, ...}, or {"reply": id, "error": "..."} when
// it was wrong; everything else on stdout is an event. Nothing goes to stderr
// unless the harness itself fails (the wrapper treats any stderr as a failure).
//
// Commands:
//   {"cmd":"open","tab":"t0","url":"ws://127.0.0.1:PORT/ws/docs/SLUG/",
//    "origin":"http://127.0.0.1:PORT", "name":"Ada"?, "ping_ms":25000?, "seed":n?,
//    "max_frame_bytes":262144?, "max_document_chars":1000000?}
//       a tab: its own EditorClient and ReconnectingSocket, started at once.
//       `origin` defaults to the url's with http(s); `seed` seeds the socket's
//       jitter (default Math.random, as the page).
//   {"cmd":"keys","tab":"t0","n":5}      n random keystrokes now (see below)
//   {"cmd":"insert","tab":"t0","at":0,"text":"abc"}   a literal edit (at: code points, default the end)
//   {"cmd":"typing","tabs":["t0"]?,"every_ms":[5,40],"seed":1}
//       random keystrokes every 5-40 ms on those tabs (default all), until stopped
//   {"cmd":"stop_typing","tabs":[...]?}
//   {"cmd":"state","fields":["live",...]?}   -> {"reply":id,"now":ms,"tabs":{"t0":{...}}}, fields:
//       text, rev, state, live, status, session, view_ok (the "view", kept only
//       through the client's hooks as the textarea is, equals client.text; false
//       after "forbidden", where the page empties the textarea),
//       typed (unique chars typed, in order), typed_offline (those typed while
//       not live), acked (how many typed chars the server has: in the client's
//       server text), unacked (the others), keys, skipped (keystrokes refused:
//       before the first snapshot, read-only, or over a limit), opens,
//       first_frames (the first frame type of each connection, "error:CODE"
//       for an error), closes (codes), close_reasons ("code reason"), errors (error frames passed to onError),
//       error_frames ("code: message" of every error frame, rate-limited ones too),
//       exceptions (what client.receive threw; main.js then resyncs and restarts),
//       presence_errors (what client.visiblePeople threw; the page logs them),
//       acks, frames (count by type, batches unpacked), live_since (ms of the
//       last transition to "live"), typing (bool), stopped (socket.stop() was called)
//   {"cmd":"close","tab":"t0"}   socket.stop(), as the page does on pagehide
//   {"cmd":"quit"}   stops every tab, replies, exits 0 (also on the end of stdin)
//
// Events (t: Date.now() in ms, comparable with Python's time.time() * 1000):
//   {"event":"status","tab","status","t"}   every change of the page's status text
//   {"event":"open","tab","t"}
//   {"event":"close","tab","code","reason","clean","t"}
//   {"event":"error","tab","frame","t"}     an error frame (hooks.onError)
//   {"event":"exception","tab","message","t"}
//   {"event":"presence-error","tab","message","t"}
//
// A keystroke is what tests/test_multiprocess.py's Typist does: at a random
// position, either insert one character unique in this process (never deleted
// by anyone) followed by 0-2 filler dots, or (30 %) delete one dot. A lost or
// doubled keystroke shows as a unique character missing or twice in the end.
// Unique characters alternate between CJK (BMP) and CJK Extension B (astral,
// a surrogate pair in JavaScript), so code-point counting is exercised too.
// Keystrokes go on while the tab is disconnected, as a person keeps typing.

import readline from "node:readline";

import { EditorClient } from "../../editor/static/editor/client.js";
import {
  apply,
  codePointLength,
  normalize,
  targetLength,
  transformIndex,
} from "../../editor/static/editor/ot.js";
import { ReconnectingSocket, Status } from "../../editor/static/editor/socket.js";
import { seededRandom } from "../js/random.js";

const tabs = new Map();
let nextUnique = 0;

function emit(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

function uniqueChar() {
  const k = nextUnique++;
  const code = k % 2 === 0 ? 0x4e00 + k / 2 : 0x20000 + (k - 1) / 2;
  if (code > (k % 2 === 0 ? 0x9fff : 0x2a6df)) throw new Error("out of unique characters");
  return String.fromCodePoint(code);
}

const FAILED_HANDSHAKE = Object.freeze({ code: 1006, reason: "", wasClean: false });

/**
 * Node's WebSocket as a browser's: with the page's Origin header, and a close
 * event (1006) after a handshake that failed (refused, or not answered 101),
 * which undici 6 (Node 20) leaves out: it fires `error` alone (undici issue
 * 3546, fixed in undici 7), and socket.js, which reconnects on `close`, would
 * wait for ever. Where undici fires the close itself, nothing is added.
 */
function browserLikeWebSocket(origin) {
  const headers = { Origin: origin };
  return class extends WebSocket {
    constructor(url) {
      super(url, { headers });
      let opened = false;
      let closed = false;
      this.addEventListener("open", () => (opened = true));
      this.addEventListener("close", () => (closed = true));
      this.addEventListener("error", () => {
        if (opened) return;
        setTimeout(() => {
          if (closed) return;
          const event = new Event("close");
          for (const [key, value] of Object.entries(FAILED_HANDSHAKE)) {
            Object.defineProperty(event, key, { value });
          }
          this.dispatchEvent(event);
        }, 0);
      });
    }
  };
}

class Tab {
  constructor(name, { url, origin, name: displayName, ping_ms, seed, max_frame_bytes, max_document_chars }) {
    this.name = name;
    this.maxDocumentChars = max_document_chars ?? 1_000_000;
    this.status = null;
    this.liveSince = null;
    this.view = ""; // what the textarea would show: changed only through the hooks
    this.started = false; // the page's textarea is read-only until the first snapshot
    this.readOnly = false;
    this.caret = 0;
    this.typed = [];
    this.typedOffline = [];
    this.keys = 0;
    this.skipped = 0;
    this.opens = 0;
    this.firstFrames = [];
    this.awaitingFirst = false;
    this.closes = [];
    this.closeReasons = [];
    this.errors = [];
    this.errorFrames = [];
    this.exceptions = [];
    this.presenceErrors = [];
    this.acks = 0;
    this.frames = {};
    this.typingTimer = null;
    this.stopped = false;

    const WebSocketClass = browserLikeWebSocket(origin ?? new URL(url.replace(/^ws/, "http")).origin);

    // main.js's hooks, with the DOM replaced by this.view, this.status and records.
    const client = new EditorClient(
      {
        send: (frame) => socket.send(frame),
        onReset: (text) => {
          this.view = text;
          this.started = true;
        },
        onRemoteOp: (op, text) => {
          this.caret = transformIndex(this.caret, op);
          this.view = text;
        },
        onResync: () => socket.restart(),
        onPeople: () => this.renderPresence(),
        onMode: (readOnly) => {
          this.readOnly = readOnly;
        },
        onRelay: (carried) => this.showStatus(carried ? Status.LIVE : Status.DELAYED),
        getCaret: () => [this.caret, this.caret],
        onError: (error) => {
          this.errors.push(error);
          emit({ event: "error", tab: this.name, frame: error, t: Date.now() });
          if (error.code === "forbidden") {
            this.readOnly = true;
            this.view = "";
          }
        },
      },
      { maxFrameBytes: max_frame_bytes ?? 262_144 },
    );

    const socketUrl = () => {
      const params = new URLSearchParams(client.resumeQuery());
      const name = client.name ?? displayName;
      if (name) params.set("name", name);
      const query = params.toString();
      return `${url}${query ? `?${query}` : ""}`;
    };

    const socket = new ReconnectingSocket(
      socketUrl,
      {
        onFrame: (frame) => {
          this.count(frame);
          // Every error frame, the rate-limited ones too (the client handles those itself, so
          // onError never sees them): what a close that follows was about.
          if (frame.type === "error") this.errorFrames.push(`${frame.code}: ${frame.message} (id ${frame.id}, retry_after ${frame.retry_after})`);
          try {
            client.receive(frame);
          } catch (error) {
            // main.js: our state no longer matches the server's; start again from a snapshot.
            this.exceptions.push(String(error?.stack ?? error));
            const message = String(error?.message ?? error);
            emit({ event: "exception", tab: this.name, message, t: Date.now() });
            client.resync();
            socket.restart();
            return;
          }
          if (frame.type === "snapshot" || frame.type === "resume") this.showStatus(Status.LIVE);
          if (frame.type === "op" || frame.type === "ack" || frame.type === "snapshot") this.renderPresence();
        },
        onOpen: () => {
          this.opens += 1;
          this.awaitingFirst = true;
          emit({ event: "open", tab: this.name, t: Date.now() });
        },
        onClose: (event) => {
          this.closes.push(event.code);
          this.closeReasons.push(`${event.code} ${event.reason}`);
          emit({
            event: "close",
            tab: this.name,
            code: event.code,
            reason: event.reason,
            clean: event.wasClean,
            t: Date.now(),
          });
          client.disconnected();
        },
        onStatus: (status) => this.showStatus(status),
      },
      {
        WebSocketClass,
        pingIntervalMs: ping_ms ?? 25_000,
        random: seed === undefined ? Math.random : seededRandom(seed),
      },
    );
    this.client = client;
    this.socket = socket;
    socket.start();
  }

  count(frame) {
    if (this.awaitingFirst) {
      this.awaitingFirst = false;
      this.firstFrames.push(frame.type === "error" ? `error:${frame.code}` : frame.type);
    }
    for (const inner of frame.type === "batch" ? frame.frames : [frame]) {
      this.frames[inner.type] = (this.frames[inner.type] ?? 0) + 1;
      if (inner.type === "ack") this.acks += 1;
    }
  }

  /** main.js's renderPresence without the drawing: where the others' carets are in our text. */
  renderPresence() {
    try {
      this.client.visiblePeople();
    } catch (error) {
      // The page only logs these (console.error): drawing never takes the connection down.
      this.presenceErrors.push(String(error?.stack ?? error));
      const message = String(error?.message ?? error);
      emit({ event: "presence-error", tab: this.name, message, t: Date.now() });
    }
  }

  showStatus(status) {
    if (status === this.status) return;
    this.status = status;
    if (status === Status.LIVE) this.liveSince = Date.now();
    emit({ event: "status", tab: this.name, status, t: Date.now() });
  }

  /** What the page's TextareaAdapter and onEdit do with one edit of the textarea. */
  edit(op, caret, unique) {
    const client = this.client;
    if (!this.started || this.readOnly || targetLength(op) > this.maxDocumentChars || !client.canTake(op)) {
      this.skipped += 1;
      return;
    }
    this.view = apply(this.view, op);
    client.localEdit(op);
    this.caret = caret;
    this.renderPresence(); // main.js's onEdit
    client.caretMoved(); // the page's keyup
    if (unique) {
      this.typed.push(unique);
      if (!client.live) this.typedOffline.push(unique);
    }
  }

  keystroke(random) {
    this.keys += 1;
    const points = [...this.view];
    const dots = [];
    points.forEach((char, i) => char === "." && dots.push(i));
    if (dots.length > 0 && random() < 0.3) {
      const at = dots[Math.floor(random() * dots.length)];
      this.edit(normalize([at, -1, points.length - at - 1]), at, null);
      return;
    }
    if (!this.started || this.readOnly) {
      this.skipped += 1; // no unique character spent on a keystroke that cannot happen
      return;
    }
    const unique = uniqueChar();
    const insert = unique + ".".repeat(Math.floor(random() * 3));
    const at = Math.floor(random() * (points.length + 1));
    this.edit(normalize([at, insert, points.length - at]), at + codePointLength(insert), unique);
  }

  insert(text, at = codePointLength(this.view)) {
    this.keys += 1;
    const length = codePointLength(this.view);
    if (!Number.isInteger(at) || at < 0 || at > length) throw new Error(`at ${at} is outside 0..${length}`);
    this.edit(normalize([at, text, length - at]), at + codePointLength(text), null);
  }

  startTyping([low, high], random) {
    this.stopTyping();
    const next = () => {
      this.typingTimer = setTimeout(
        () => {
          this.keystroke(random);
          next();
        },
        low + random() * (high - low),
      );
    };
    next();
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    this.typingTimer = null;
  }

  close() {
    this.stopTyping();
    this.stopped = true;
    this.socket.stop();
  }

  state() {
    const client = this.client;
    const typed = new Set(this.typed);
    const acked = [...client.serverText].filter((char) => typed.has(char));
    const ackedSet = new Set(acked);
    return {
      text: client.text,
      rev: client.rev,
      state: client.state,
      live: client.live,
      status: this.status,
      session: client.session,
      view_ok: this.view === client.text,
      typed: this.typed,
      typed_offline: this.typedOffline,
      acked: acked.length,
      unacked: this.typed.filter((char) => !ackedSet.has(char)),
      keys: this.keys,
      skipped: this.skipped,
      opens: this.opens,
      first_frames: this.firstFrames,
      closes: this.closes,
      close_reasons: this.closeReasons,
      errors: this.errors,
      error_frames: this.errorFrames,
      exceptions: this.exceptions,
      presence_errors: this.presenceErrors,
      acks: this.acks,
      frames: this.frames,
      live_since: this.liveSince,
      typing: this.typingTimer !== null,
      stopped: this.stopped,
    };
  }
}

function tab(name) {
  const found = tabs.get(name);
  if (!found) throw new Error(`no tab ${JSON.stringify(name)}`);
  return found;
}

function selected(names) {
  return names === undefined ? [...tabs.values()] : names.map(tab);
}

let quitting = false;

function quit(id) {
  if (quitting) return;
  quitting = true;
  for (const each of tabs.values()) each.close();
  // Exit once the reply is written: sockets still closing would keep Node alive.
  process.stdout.write(`${JSON.stringify({ reply: id ?? null, ok: true })}\n`, () => process.exit(0));
}

const commands = {
  open(command) {
    if (tabs.has(command.tab)) throw new Error(`tab ${command.tab} is already open`);
    if (typeof command.url !== "string") throw new Error("open needs a url");
    tabs.set(command.tab, new Tab(command.tab, command));
    return {};
  },
  keys({ tab: name, n = 1, seed }) {
    const each = tab(name);
    each.keysRandom ??= seededRandom(seed ?? 1);
    for (let i = 0; i < n; i++) each.keystroke(each.keysRandom);
    return {};
  },
  insert({ tab: name, text, at }) {
    tab(name).insert(text, at);
    return {};
  },
  typing({ tabs: names, every_ms: everyMs = [5, 40], seed = 1 }) {
    selected(names).forEach((each, i) => each.startTyping(everyMs, seededRandom(seed * 7919 + i)));
    return {};
  },
  stop_typing({ tabs: names }) {
    for (const each of selected(names)) each.stopTyping();
    return {};
  },
  state({ fields }) {
    const pick = (state) => Object.fromEntries(fields.map((field) => [field, state[field]]));
    const states = [...tabs].map(([name, each]) => [name, fields ? pick(each.state()) : each.state()]);
    return { now: Date.now(), tabs: Object.fromEntries(states) };
  },
  close({ tab: name }) {
    tab(name).close();
    return {};
  },
};

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line); // a malformed line is the wrapper's bug: fail loudly
  if (command.cmd === "quit") {
    quit(command.id);
    return;
  }
  let reply;
  try {
    const handler = commands[command.cmd];
    if (!handler) throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
    reply = { ok: true, ...handler(command) };
  } catch (error) {
    reply = { error: String(error?.message ?? error) };
  }
  if (command.id !== undefined) emit({ reply: command.id, ...reply });
  else if (reply.error) throw new Error(`${command.cmd}: ${reply.error}`);
});
input.on("close", () => quit());
