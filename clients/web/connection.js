// A WebSocket that reconnects with exponential backoff and reports its state.
//
// States: "connecting" -> "open" -> ("reconnecting" -> "connecting" -> "open")* -> "closed"
// The owner decides what a close means through `classify(closeEvent)`:
//   {retry: false}                 stop here (state "closed"), e.g. a fatal protocol error
//   {retry: true, delayMs?: n}     reconnect, after n ms or the next backoff step

export const BACKOFF = { initialMs: 500, factor: 2, maxMs: 10000, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (1-based), with +-jitter. */
export function backoffDelay(attempt, opts = BACKOFF, random = Math.random) {
  const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.max(0, attempt - 1));
  const spread = base * opts.jitter;
  return Math.round(base - spread + 2 * spread * random());
}

/** ws:// or wss:// URL for a path on the server that served this page. */
export function wsUrl(path, base = window.location) {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}${path}`;
}

export class ReconnectingSocket {
  /**
   * @param {() => string} url         called before every attempt
   * @param {object} handlers
   *   onOpen(ws, attempt)             the socket is open (send the first message here)
   *   onText(obj), onBinary(data)     frames (text frames parsed as JSON)
   *   onClose(event)                  every close, before deciding on a retry
   *   onState(state, detail)          detail: {attempt, delayMs, code, reason}
   *   classify(event) -> {retry, delayMs?}
   */
  constructor(url, handlers, backoff = BACKOFF) {
    this.url = url;
    this.h = handlers;
    this.backoff = backoff;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0; // failed attempts since the last healthy connection
    this.timer = null;
    this.stopped = false;
  }

  open() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** The connection proved healthy (e.g. the server said "ready"): reset the backoff. */
  healthy() {
    this.attempt = 0;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(data) {
    if (!this.isOpen) return false;
    this.ws.send(typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : JSON.stringify(data));
    return true;
  }

  get bufferedAmount() {
    return this.ws ? this.ws.bufferedAmount : 0;
  }

  /** Close for good (no reconnect). */
  close(code = 1000, reason = "client closed") {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      ws.close(code, reason);
    } else {
      this.setState("closed", {});
    }
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.setState("connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      // A malformed URL: nothing to retry.
      this.stopped = true;
      this.setState("closed", { code: 0, reason: String(err && err.message) });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.setState("open", { attempt: this.attempt });
      this.h.onOpen && this.h.onOpen(ws, this.attempt);
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        let obj;
        try {
          obj = JSON.parse(e.data);
        } catch {
          return; // not ours to fix; the protocol only sends JSON text frames
        }
        this.h.onText && this.h.onText(obj);
      } else if (this.h.onBinary) {
        this.h.onBinary(e.data);
      }
    };
    // The error event carries no detail; the close event that always follows does.
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.h.onClose && this.h.onClose(e);
      const verdict = this.stopped ? { retry: false } : this.h.classify ? this.h.classify(e) : { retry: true };
      if (!verdict.retry) {
        this.stopped = true;
        this.setState("closed", { code: e.code, reason: e.reason });
        return;
      }
      this.attempt += 1;
      const delayMs = verdict.delayMs != null ? verdict.delayMs : backoffDelay(this.attempt, this.backoff);
      this.setState("reconnecting", { attempt: this.attempt, delayMs, code: e.code, reason: e.reason, at: Date.now() + delayMs });
      this.timer = setTimeout(() => this.connect(), delayMs);
    };
  }

  /** Skip the wait and try now (the "Retry now" button). */
  retryNow() {
    if (this.state === "reconnecting") this.connect();
  }

  setState(state, detail) {
    this.state = state;
    this.h.onState && this.h.onState(state, detail);
  }
}
