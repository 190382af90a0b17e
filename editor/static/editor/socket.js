// The socket adapter: one connection at a time, reconnected with exponential
// backoff and jitter when it drops, resuming from the client's revision. The
// connection is a WebSocket, or where WebSockets are blocked the fallback
// (transport.js), which it probes now and then to upgrade back.

import { Transport, TransportChooser } from "./transport.js";

export const Status = Object.freeze({
  CONNECTING: "connecting",
  LIVE: "live",
  RECONNECTING: "reconnecting",
  DELAYED: "delayed", // connected, but others' edits may arrive late (the server's relay is away)
  DISCONNECTED: "disconnected",
});

// Close codes after which reconnecting would be wrong: an operator
// disconnected us (4001), we may not see the document (4403: never could, or no
// longer), or the endpoint does not exist (4404).
const FINAL_CLOSE_CODES = new Set([4001, 4403, 4404]);
// Closed for a policy (1008: too many connections, or over the limits): the
// socket opened, but reconnecting at once would only be refused again, so
// the wait starts where the backoff is 8 s.
// 4008 is the same behind a server without the editor's frame writer.
const POLICY_VIOLATION = new Set([1008, 4008]);
const POLICY_FIRST_ATTEMPT = 4;
// The worker is shutting down (1012, service restart; 4012 behind a server
// without the editor's frame writer): come back at once, to another worker,
// spread over a quarter of a second so that its clients do not all arrive
// in the same millisecond.
const RESTARTING = new Set([1012, 4012]);
const RESTART_SPREAD_MS = 250;
// After a restart every worker may be restarting (a deploy of all at once):
// while none answers, the socket fails (1006) and is tried again about every
// second, not with the growing backoff, so that it is back within a second or
// so of the first worker being ready; a worker that is up but not serving yet
// (1013) is tried again as often. For this long after the 1012, then the
// backoff as usual; a refusal for a policy (1008) backs off at once.
const RESTART_PATIENCE_MS = 30_000;
const RESTART_RETRY_ATTEMPT = 1; // backoffDelay(1): one second, +-25 %
const RETRY_SOON = new Set([1006, 1013]); // connection failed; try again later

/** Delay before reconnect attempt `attempt` (0-based): 0.5 s doubling to 10 s, +-25 % jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(10_000, 500 * 2 ** attempt);
  return Math.round(base * (0.75 + random() * 0.5));
}

export class ReconnectingSocket {
  /**
   * @param {() => string} url  called before every attempt, so it can carry ?rev=
   * @param {object} hooks  onFrame(frame), onOpen(), onClose(event), onStatus(status)
   * Without `FallbackClass` only WebSockets are tried. With it, a WebSocket that has
   * not opened within `openTimeoutMs` gives way to the fallback (`TransportChooser`),
   * and while on the fallback a WebSocket to `probeUrl()` is tried `firstProbeMs`
   * after it opened and then every `probeIntervalMs`: when one opens, the
   * connection moves back to a WebSocket (a reconnect, which resumes).
   */
  constructor(
    url,
    hooks,
    {
      WebSocketClass = globalThis.WebSocket,
      FallbackClass = null,
      probeUrl = null,
      openTimeoutMs = 2500,
      firstProbeMs = 5000,
      probeIntervalMs = 60_000,
      pingIntervalMs = 25_000,
      random = Math.random,
      now = () => Date.now(),
    } = {},
  ) {
    this.url = url;
    this.FallbackClass = FallbackClass;
    this.probeUrl = probeUrl;
    this.openTimeoutMs = openTimeoutMs;
    this.firstProbeMs = firstProbeMs;
    this.probeIntervalMs = probeIntervalMs;
    this.chooser = new TransportChooser();
    this.transport = Transport.WEBSOCKET; // the kind of the current (or last) connection
    this.openTimer = null;
    this.probeTimer = null;
    this.upgrading = false;
    this.random = random;
    this.now = now;
    this.hooks = hooks;
    this.WebSocketClass = WebSocketClass;
    this.pingIntervalMs = pingIntervalMs;
    this.socket = null;
    this.attempt = 0;
    this.restartingUntil = -Infinity; // retry every second until then (RESTART_PATIENCE_MS)
    this.retryTimer = null;
    this.pingTimer = null;
    this.stopped = false;
  }

  start() {
    this.hooks.onStatus?.(Status.CONNECTING);
    this.open();
  }

  open() {
    const kind = this.FallbackClass ? this.chooser.next() : Transport.WEBSOCKET;
    this.chooser.attempt(kind);
    this.transport = kind;
    const socket =
      kind === Transport.WEBSOCKET
        ? new this.WebSocketClass(this.url())
        : new this.FallbackClass(this.url(), { mode: kind, onHeldBack: () => this.streamHeldBack(socket) });
    this.socket = socket;
    if (this.FallbackClass && kind === Transport.WEBSOCKET) {
      // Blocked WebSockets often hang rather than fail: not open in time counts as refused.
      this.openTimer = setTimeout(() => {
        if (this.socket === socket && socket.readyState === 0) socket.close();
      }, this.openTimeoutMs);
    }
    socket.onopen = () => {
      clearTimeout(this.openTimer);
      this.chooser.opened(kind);
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), this.pingIntervalMs);
      if (kind !== Transport.WEBSOCKET) this.scheduleProbe(this.firstProbeMs);
      this.hooks.onOpen?.();
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      // Served, not only opened: a socket the server opens to say why it closes
      // (an error first: unavailable, too many connections) keeps the backoff growing.
      if (frame.type !== "error") {
        this.attempt = 0;
        this.restartingUntil = -Infinity;
      }
      this.hooks.onFrame(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      clearTimeout(this.openTimer);
      clearTimeout(this.probeTimer);
      this.hooks.onClose?.(event);
      if (this.stopped) return;
      if (this.upgrading) {
        // Back to a WebSocket: at once, and without saying "reconnecting" for it.
        this.upgrading = false;
        this.retryTimer = setTimeout(() => this.open(), 0);
        return;
      }
      if (this.FallbackClass && kind === Transport.WEBSOCKET && this.chooser.next() !== Transport.WEBSOCKET) {
        // The WebSocket would not open: the fallback, at once (typing is kept meanwhile).
        this.hooks.onStatus?.(Status.RECONNECTING);
        this.retryTimer = setTimeout(() => this.open(), 0);
        return;
      }
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.stopped = true;
        this.hooks.onStatus?.(Status.DISCONNECTED);
        return;
      }
      this.hooks.onStatus?.(Status.RECONNECTING);
      if (POLICY_VIOLATION.has(event.code)) this.attempt = Math.max(this.attempt, POLICY_FIRST_ATTEMPT);
      this.retryTimer = setTimeout(() => this.open(), this.retryDelay(event.code));
    };
  }

  /** The fallback's stream was held back by a proxy: that session, and later ones, poll. */
  streamHeldBack(socket) {
    this.chooser.streamHeldBack();
    if (this.socket !== socket) return;
    this.transport = Transport.POLL;
    this.hooks.onTransport?.(this.transport);
  }

  scheduleProbe(delay) {
    clearTimeout(this.probeTimer);
    if (this.probeUrl) this.probeTimer = setTimeout(() => this.probe(), delay);
  }

  /** While on the fallback: does a WebSocket open now? If so, move back to one. */
  probe() {
    const current = this.socket;
    if (!current || this.transport === Transport.WEBSOCKET || this.stopped) return;
    const probe = new this.WebSocketClass(this.probeUrl());
    let settled = false;
    const settle = (opened) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (opened && this.socket === current) {
        this.chooser.upgrade();
        this.upgrading = true;
        current.close(1000, "moving to a WebSocket");
      } else if (this.socket === current) {
        this.scheduleProbe(this.probeIntervalMs);
      }
    };
    const timer = setTimeout(() => {
      settle(false);
      probe.close();
    }, this.openTimeoutMs);
    probe.onopen = () => {
      settle(true);
      probe.close(1000);
    };
    probe.onclose = () => settle(false);
  }

  /** How long to wait before reconnecting after a close with `code`. */
  retryDelay(code) {
    if (RESTARTING.has(code)) {
      this.restartingUntil = this.now() + RESTART_PATIENCE_MS;
      return Math.round(this.random() * RESTART_SPREAD_MS);
    }
    if (RETRY_SOON.has(code) && this.now() < this.restartingUntil) {
      return backoffDelay(RESTART_RETRY_ATTEMPT, this.random);
    }
    this.restartingUntil = -Infinity;
    return backoffDelay(this.attempt++, this.random);
  }

  /** Send a frame; false when there is no open socket (the caller keeps it pending). */
  send(frame) {
    if (!this.socket || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Drop the current socket and reconnect, with the backoff (used after a protocol error). */
  restart() {
    this.socket?.close(4000, "client restart");
  }

  /** Connect again after a close that ended reconnecting (the page's Reconnect button). */
  reconnect() {
    if (!this.stopped || this.socket) return;
    this.stopped = false;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    this.start();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.probeTimer);
    this.socket?.close(1000, "page closed");
  }
}
