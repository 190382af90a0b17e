// The fallback transport, for where WebSockets are blocked: the protocol's
// frames over plain HTTP (docs/protocol.md, "Where WebSockets are blocked").
// `FallbackSocket` looks like a WebSocket to the rest of the page; the
// `TransportChooser` decides which kind each connection attempt uses.

export const Transport = Object.freeze({
  WEBSOCKET: "websocket",
  STREAM: "stream", // Server-Sent Events down, POSTs up
  POLL: "poll", // long polls down, POSTs up: for proxies that hold streams back
});

/**
 * Which transport the next connection attempt uses. The WebSocket first, always
 * (on every page load too); after one that could not open, the fallback; after a
 * fallback that could not open either (the server may be down, not the
 * WebSocket blocked), the WebSocket again. Once the fallback is serving, it is
 * kept until a probe finds the WebSocket open again (`upgrade`). A stream a
 * proxy held back makes every later fallback a long poll.
 */
export class TransportChooser {
  constructor() {
    this.fallback = false; // the fallback served, and is kept until an upgrade
    this.heldBack = false; // a stream was held back: long polls from now on
    this.last = null; // the kind of the last attempt
    this.lastOpened = false;
  }

  /** The kind for the next attempt. */
  next() {
    const fallbackKind = this.heldBack ? Transport.POLL : Transport.STREAM;
    if (this.fallback) return fallbackKind;
    if (this.last === Transport.WEBSOCKET && !this.lastOpened) return fallbackKind;
    return Transport.WEBSOCKET;
  }

  /** An attempt of `kind` begins. */
  attempt(kind) {
    this.last = kind;
    this.lastOpened = false;
  }

  /** The attempt opened (a WebSocket's handshake, a fallback session's opening). */
  opened(kind) {
    this.lastOpened = true;
    this.fallback = kind !== Transport.WEBSOCKET;
  }

  /** The fallback's event stream was held back by a proxy: poll instead. */
  streamHeldBack() {
    this.heldBack = true;
  }

  /** A probe found the WebSocket open again: the next attempt uses it. */
  upgrade() {
    this.fallback = false;
    this.last = null;
  }

  get onFallback() {
    return this.fallback;
  }
}

// One POST carries at most this many frames (the server's EDITOR_INBOUND_QUEUE_FRAMES
// default) and, past the first, about this many bytes (nginx's body limit is 1 MiB).
export const MAX_FRAMES_PER_POST = 100;
const MAX_BYTES_PER_POST = 256 * 1024; // of UTF-8 in the JSON body (the server takes 2 x 256 KiB + 4 KiB)
const BUSY_RETRY_MS = 1000;
// An opening not answered in this long is given up (as a handshake that hangs).
const OPEN_TIMEOUT_MS = 10_000;
// The server sends an event at least every 15 s; none for this long means the stream is held.
const SILENT_STREAM_MS = 20_000;
const utf8 = new TextEncoder();
// The close code for a session that is gone or unreachable: as a dropped socket.
const ABNORMAL = 1006;

/** The fallback's opening URL for a document's WebSocket URL (same query: ?rev=, ?pending=). */
export function fallbackUrl(socketUrl) {
  const url = new URL(socketUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = url.pathname.replace(/^\/ws\/docs\//, "/fallback/docs/");
  return url.toString();
}

/**
 * A WebSocket-shaped connection over HTTP: `readyState`, `onopen`,
 * `onmessage({data})`, `onclose({code, reason})`, `send(text)`, `close(code)`.
 * Down, events arrive numbered; each is handed on once, in order, whatever
 * reconnects the stream makes. Up, frames go in POSTs, one in flight at a time,
 * numbered so that the server takes each once.
 */
export class FallbackSocket {
  constructor(
    socketUrl,
    {
      mode = Transport.STREAM,
      fetchImpl = (...args) => globalThis.fetch(...args),
      EventSourceClass = globalThis.EventSource,
      heldBackMs = 3000,
      onHeldBack = () => {},
    } = {},
  ) {
    this.url = fallbackUrl(socketUrl);
    this.mode = mode;
    this.fetch = fetchImpl;
    this.EventSourceClass = EventSourceClass;
    this.heldBackMs = heldBackMs;
    this.onHeldBack = onHeldBack;
    this.readyState = 0; // CONNECTING, OPEN (1), CLOSING (2), CLOSED (3), as a WebSocket's
    this.lastEventId = 0; // the last event handed on
    this.seq = 0; // the number of the next frame to POST
    this.queue = [];
    this.posting = false;
    this.stream = null;
    this.heldBackTimer = null;
    this.links = null;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    queueMicrotask(() => this.start());
  }

  async start() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), OPEN_TIMEOUT_MS);
    let response;
    let body;
    try {
      response = await this.fetch(this.url, { method: "POST", credentials: "same-origin", signal: abort.signal });
      if (response.status === 201) body = await response.json();
    } catch {
      return this.finish(ABNORMAL, "could not open");
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 201) {
      // As a refused handshake (1006), or a worker not serving yet (1013).
      return this.finish(response.status === 503 ? 1013 : ABNORMAL, `opening answered ${response.status}`);
    }
    const base = new URL(this.url);
    this.links = {
      events: new URL(body.events, base).toString(),
      poll: new URL(body.poll, base).toString(),
      frames: new URL(body.frames, base).toString(),
      session: new URL(body.frames.replace(/frames$/, ""), base).toString(),
    };
    if (this.readyState !== 0) {
      this.forget(); // closed while it opened: the server's session goes too
      return undefined;
    }
    this.readyState = 1;
    this.onopen?.();
    if (this.readyState !== 1) return undefined;
    if (this.mode === Transport.POLL) this.poll();
    else this.openStream();
    return undefined;
  }

  /** Tell the server the session is over (best effort: it also expires). */
  forget() {
    this.fetch(this.links.session, { method: "DELETE", credentials: "same-origin", keepalive: true }).catch(() => {});
  }

  openStream() {
    const stream = new this.EventSourceClass(`${this.links.events}?after=${this.lastEventId}`);
    this.stream = stream;
    // The first event comes at once and one at least every 15 s; a proxy that holds the
    // stream back delays them (even if it let the first bytes through).
    this.heldBackTimer = setTimeout(() => this.streamHeldBack(), this.heldBackMs);
    let ready = false; // events before it (from a reconnect's first bytes) do not count
    const heard = () => {
      if (!ready) return;
      clearTimeout(this.heldBackTimer);
      this.heldBackTimer = setTimeout(() => this.streamHeldBack(), SILENT_STREAM_MS);
    };
    stream.addEventListener("ready", () => {
      ready = true;
      heard();
    });
    stream.addEventListener("keepalive", heard);
    stream.addEventListener("message", (event) => {
      heard();
      this.deliver(Number(event.lastEventId), event.data);
    });
    stream.addEventListener("close", (event) => {
      if (Number(event.lastEventId) <= this.lastEventId) return;
      const { code, reason } = JSON.parse(event.data);
      this.finish(code, reason, { byServer: true });
    });
    stream.addEventListener("gone", () => this.finish(ABNORMAL, "session gone"));
    stream.addEventListener("error", () => {
      // CONNECTING: the browser reconnects by itself, with Last-Event-ID. CLOSED: it
      // gave up (the session is gone: 410), and so does this socket.
      if (stream.readyState === 2) this.finish(ABNORMAL, "stream failed");
    });
  }

  streamHeldBack() {
    if (this.readyState !== 1 || this.stream === null) return;
    this.stream.close();
    this.stream = null;
    this.mode = Transport.POLL;
    this.onHeldBack();
    this.poll(); // from the last event handed on: nothing lost, nothing twice
  }

  async poll() {
    while (this.readyState === 1) {
      let events;
      try {
        const response = await this.fetch(`${this.links.poll}?after=${this.lastEventId}`, {
          cache: "no-store",
          credentials: "same-origin",
        });
        if (!response.ok) return this.finish(ABNORMAL, `poll answered ${response.status}`);
        ({ events } = await response.json());
        if (!Array.isArray(events)) throw new TypeError("no events in the answer");
      } catch {
        return this.finish(ABNORMAL, "poll failed");
      }
      for (const event of events) {
        if (event.close) {
          if (event.id > this.lastEventId) this.finish(event.close.code, event.close.reason, { byServer: true });
          return undefined;
        }
        this.deliver(event.id, event.frame);
      }
    }
    return undefined;
  }

  deliver(id, data) {
    if (this.readyState !== 1 || !(id > this.lastEventId)) return; // already handed on
    this.lastEventId = id;
    this.onmessage?.({ data });
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("the fallback session is not open");
    this.queue.push(text);
    this.post();
  }

  async post() {
    if (this.posting || !this.queue.length || this.readyState !== 1) return undefined;
    const batch = [];
    let bytes = 0;
    while (this.queue.length && batch.length < MAX_FRAMES_PER_POST) {
      bytes += utf8.encode(JSON.stringify(this.queue[0])).length;
      if (batch.length && bytes > MAX_BYTES_PER_POST) break;
      batch.push(this.queue.shift());
    }
    this.posting = true;
    let next = null;
    let status = 0;
    try {
      const response = await this.fetch(this.links.frames, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ seq: this.seq, frames: batch, ack: this.lastEventId }),
      });
      status = response.status;
      if (response.ok) next = (await response.json()).next;
    } catch {
      // as a lost session: below
    }
    // Only now, with the next number known, may another POST start.
    this.posting = false;
    if (status === 429) {
      this.queue.unshift(...batch); // the server's queue is full: the same frames, later
      setTimeout(() => this.post(), BUSY_RETRY_MS);
      return undefined;
    }
    if (next === null) return this.finish(ABNORMAL, "sending failed");
    this.seq = next;
    return this.post();
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    this.finish(code, reason);
  }

  /** Closed: by the server (its close event: `byServer`), or here, when the server is told. */
  finish(code, reason = "", { byServer = false } = {}) {
    if (this.readyState === 3) return;
    if (this.links && !byServer) this.forget(); // else its consumer would linger until expiry
    this.readyState = 3;
    clearTimeout(this.heldBackTimer);
    this.stream?.close();
    this.stream = null;
    this.onclose?.({ code, reason, wasClean: code !== ABNORMAL });
  }
}
