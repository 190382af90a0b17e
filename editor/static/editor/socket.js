// The socket adapter: one WebSocket at a time, reconnected with exponential
// backoff and jitter when it drops, resuming from the client's revision.

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
   */
  constructor(
    url,
    hooks,
    {
      WebSocketClass = globalThis.WebSocket,
      pingIntervalMs = 25_000,
      random = Math.random,
      now = () => Date.now(),
    } = {},
  ) {
    this.url = url;
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
    const socket = new this.WebSocketClass(this.url());
    this.socket = socket;
    socket.onopen = () => {
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), this.pingIntervalMs);
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
      this.hooks.onClose?.(event);
      if (this.stopped) return;
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

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000, "page closed");
  }
}
