// Parley web client: wiring of the page. Speak mode streams the microphone to
// /v1/stream; listen mode follows a room on /v1/listen. Both render captions,
// latency, connection state and errors the same way.

import { Microphone, MicError, SAMPLE_RATE } from "./audio.js";
import { ReconnectingSocket, wsUrl } from "./connection.js";
import { CaptionView, ScrollFollower, languageName, formatClock } from "./captions.js";
import { LatencyStats, drawSparkline, formatMs } from "./latency.js";
import { buildCues, toWebVTT, toSRT, download } from "./export.js";
import { describeError, classifyClose } from "./errors.js";

const FRAME_MS = 40;
const MAX_BUFFER_S = 5; // audio kept while reconnecting, sent once the new session is ready
const STOP_TIMEOUT_MS = 30000; // wait this long for the server's "end" after "stop"
const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

const $ = (id) => document.getElementById(id);
const ui = {
  modeInputs: document.querySelectorAll('input[name="mode"]'),
  conn: document.querySelector(".conn"),
  connText: document.querySelector(".conn-text"),
  retryNow: $("retry-now"),
  speakForm: $("speak-form"),
  source: $("source-language"),
  targets: $("targets"),
  targetsNone: $("targets-none"),
  room: $("room"),
  start: $("start"),
  stop: $("stop"),
  level: $("level"),
  share: $("share"),
  micInfo: $("mic-info"),
  listenForm: $("listen-form"),
  listenRoom: $("listen-room"),
  listenLang: $("listen-lang"),
  join: $("join"),
  leave: $("leave"),
  banner: $("banner"),
  bannerText: document.querySelector(".banner-text"),
  bannerDetail: document.querySelector(".banner-detail"),
  bannerClose: $("banner-close"),
  scroll: $("captions-scroll"),
  list: $("captions"),
  empty: $("empty"),
  colhead: $("colhead"),
  jump: $("jump"),
  announcer: $("announcer"),
  optLarge: $("opt-large"),
  optContrast: $("opt-contrast"),
  optUnder: $("opt-under"),
  clear: $("clear"),
  exportTrack: $("export-track"),
  exportVtt: $("export-vtt"),
  exportSrt: $("export-srt"),
  lat: {
    partialLast: document.querySelector('[data-testid="latency-partial-last"]'),
    partialMedian: document.querySelector('[data-testid="latency-partial-median"]'),
    finalLast: document.querySelector('[data-testid="latency-final-last"]'),
    finalMedian: document.querySelector('[data-testid="latency-final-median"]'),
    spark: document.querySelector('[data-testid="latency-sparkline"]'),
    scale: document.getElementById("spark-scale-top"),
  },
};

// -- shared state -------------------------------------------------------------

let models = null;
let session = null; // SpeakSession | ListenSession | null
const stats = new LatencyStats(50);
const follower = new ScrollFollower(ui.scroll, (following) => {
  ui.jump.hidden = following;
});
const view = new CaptionView(ui.list, {
  announcer: ui.announcer,
  header: ui.colhead,
  onChange: () => {
    ui.empty.hidden = true;
    follower.update();
    refreshTracks();
  },
});

// -- small UI helpers ---------------------------------------------------------

const CONN_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  starting: "Starting session…",
  connected: "Connected",
  reconnecting: "Connection lost",
  finishing: "Finishing…",
  closed: "Disconnected",
  failed: "Stopped",
};

let countdown = null;
function setConn(state, text = CONN_TEXT[state], { until = null } = {}) {
  clearInterval(countdown);
  countdown = null;
  ui.conn.dataset.state = state;
  ui.retryNow.hidden = state !== "reconnecting";
  const render = () => {
    const left = until ? Math.max(0, (until - Date.now()) / 1000) : null;
    ui.connText.textContent = left != null ? `${text} — retrying in ${left.toFixed(0)} s` : text;
  };
  render();
  if (until) countdown = setInterval(render, 500);
}

function showBanner(code, detail, kind = "error") {
  const { text, detail: extra } = describeError(code, detail);
  ui.banner.hidden = false;
  ui.banner.dataset.kind = kind;
  ui.banner.dataset.code = code;
  ui.bannerText.textContent = text;
  ui.bannerDetail.textContent = extra ? `(${extra})` : "";
}

function hideBanner() {
  ui.banner.hidden = true;
  delete ui.banner.dataset.code;
}

function renderLatency() {
  ui.lat.partialLast.textContent = formatMs(stats.last("partial"));
  ui.lat.partialMedian.textContent = formatMs(stats.median("partial"));
  ui.lat.finalLast.textContent = formatMs(stats.last("final"));
  ui.lat.finalMedian.textContent = formatMs(stats.median("final"));
  const top = drawSparkline(ui.lat.spark, stats);
  ui.lat.scale.textContent = `top: ${top >= 1000 ? `${top / 1000} s` : `${top} ms`}`;
  const m = (k) => formatMs(stats.median(k));
  ui.lat.spark.setAttribute("aria-label", `Recent latency: partial median ${m("partial")}, final median ${m("final")}`);
}

/** A transcript or translation event, from a speaker's own session or a followed one. */
function showCaption(ev) {
  if (ev.type === "translation") {
    view.translation(ev);
    return;
  }
  stats.add(ev.final ? "final" : "partial", ev.latency_ms);
  renderLatency();
  view.transcript(ev);
}

let trackSig = "";
function refreshTracks() {
  const tracks = view.tracks();
  const sig = tracks.map((t) => `${t.id}:${t.label}`).join("|");
  const any = tracks.some((t) => t.count > 0);
  ui.exportVtt.disabled = ui.exportSrt.disabled = !any;
  if (sig === trackSig) return;
  trackSig = sig;
  const current = ui.exportTrack.value;
  ui.exportTrack.replaceChildren(...tracks.map((t) => new Option(t.label, t.id, false, t.id === current)));
}

function setBusy(busy) {
  for (const input of ui.modeInputs) input.disabled = busy;
}

function option(code) {
  return new Option(`${languageName(code)} (${code})`, code);
}

// -- speak ----------------------------------------------------------------------

class SpeakSession {
  constructor({ source, targets, room }) {
    this.source = source;
    this.targets = targets;
    this.room = room;
    this.ready = false;
    this.stopping = false;
    this.lastError = null;
    this.buffer = []; // {pcm, index} while not ready
    this.nextIndex = 0; // 16 kHz index of the next frame the worklet will post
    this.connections = 0;
    this.wasConnected = false;
    this.failedCode = null;
    this.stopTimer = null;
  }

  async start() {
    this.mic = new Microphone({
      frameMs: FRAME_MS,
      onFrame: (pcm, index) => this.onFrame(pcm, index),
      onLevel: (rms) => {
        ui.level.value = Math.min(1, rms * 4);
      },
      onEnded: () => this.fail("mic_ended"),
      onInfo: (info) => {
        const khz = (hz) => `${+(hz / 1000).toFixed(1)} kHz`;
        ui.micInfo.hidden = false;
        ui.micInfo.textContent = `Microphone ${khz(info.inputRate)} → ${khz(info.outputRate)}, ${Math.round((info.frameSamples / info.outputRate) * 1000)} ms frames`;
      },
    });
    setConn("connecting", "Opening the microphone…");
    await this.mic.start(); // throws MicError
    this.sock = new ReconnectingSocket(() => wsUrl("/v1/stream"), {
      onOpen: (ws) => {
        this.ready = false;
        this.lastError = null;
        setConn("connecting", CONN_TEXT.starting);
        ws.send(
          JSON.stringify({
            type: "start",
            audio: { encoding: "pcm_s16le", sample_rate: SAMPLE_RATE, channels: 1 },
            source_language: this.source,
            target_languages: this.targets,
            room: this.room,
            partials: true,
          }),
        );
      },
      onText: (ev) => this.onEvent(ev),
      onClose: () => {
        this.ready = false;
      },
      classify: (e) => classifyClose(e, this.lastError, { stopping: this.stopping }),
      onState: (state, d) => this.onSocketState(state, d),
    });
    this.sock.open();
  }

  onFrame(pcm, index) {
    this.nextIndex = index + pcm.byteLength / 2;
    if (this.stopping) return;
    if (this.ready && this.buffer.length === 0 && this.sock.send(pcm)) return;
    this.buffer.push({ pcm, index });
    const keep = (MAX_BUFFER_S * 1000) / FRAME_MS;
    if (this.buffer.length > keep) this.buffer.splice(0, this.buffer.length - keep);
  }

  flushBuffer() {
    while (this.buffer.length && this.ready) {
      if (!this.sock.send(this.buffer[0].pcm)) return;
      this.buffer.shift();
    }
  }

  onEvent(ev) {
    switch (ev.type) {
      case "ready": {
        this.ready = true;
        this.sock.healthy();
        this.connections += 1;
        // Stream time 0 of this session is the first frame it receives.
        const first = this.buffer.length ? this.buffer[0].index : this.nextIndex;
        view.newGeneration(first / SAMPLE_RATE);
        view.setLanguages(ev.source_language || this.source, ev.target_languages || this.targets);
        if (this.connections > 1) view.marker(`Reconnected at ${formatClock(first / SAMPLE_RATE)}`, "info");
        this.wasConnected = true;
        hideBanner();
        setConn("connected", this.room ? `Connected · room ${this.room}` : CONN_TEXT.connected);
        this.flushBuffer();
        break;
      }
      case "transcript":
      case "translation":
        showCaption(ev);
        break;
      case "error":
        this.lastError = ev;
        showBanner(ev.code, ev.message, ev.fatal && ev.code !== "overloaded" ? "error" : "warn");
        break;
      case "end":
        this.finish();
        break;
      default:
        break; // metrics and future events
    }
  }

  onSocketState(state, d) {
    if (state === "connecting") {
      setConn("connecting", d.attempt ? `Reconnecting (attempt ${d.attempt + 1})…` : CONN_TEXT.connecting);
    } else if (state === "reconnecting") {
      if (this.wasConnected && d.attempt === 1) view.marker("Connection lost — reconnecting…", "warn");
      const why = d.code === 1013 || (this.lastError && this.lastError.code === "overloaded") ? "Server busy" : CONN_TEXT.reconnecting;
      setConn("reconnecting", why, { until: d.at });
    } else if (state === "closed") {
      if (this.failedCode) {
        setConn("failed", `Stopped: ${this.failedCode}`);
      } else if (this.stopping) {
        setConn("idle", "Stopped");
      } else {
        const code = (this.lastError && this.lastError.code) || d.reason || "";
        if (!this.lastError && code) showBanner(code, d.reason);
        setConn("failed", code ? `Stopped: ${code}` : CONN_TEXT.failed);
      }
      this.teardown();
    }
  }

  stop() {
    if (this.stopping) return;
    this.stopping = true;
    if (this.mic) this.mic.stop();
    if (this.ready && this.sock.isOpen) {
      this.flushBuffer();
      this.sock.send(JSON.stringify({ type: "stop" }));
      setConn("connecting", CONN_TEXT.finishing);
      this.stopTimer = setTimeout(() => this.sock.close(), STOP_TIMEOUT_MS);
    } else if (this.sock) {
      this.sock.close();
    } else {
      this.teardown();
    }
  }

  finish() {
    this.stopping = true;
    this.sock.close();
  }

  fail(code, detail) {
    this.failedCode = code;
    showBanner(code, detail);
    this.stopping = true;
    if (this.mic) this.mic.stop();
    if (this.sock) this.sock.close();
    else this.teardown();
    setConn("failed", `Stopped: ${code}`);
  }

  teardown() {
    clearTimeout(this.stopTimer);
    if (this.mic) this.mic.stop();
    if (session === this) {
      session = null;
      speakIdle();
    }
  }
}

function speakIdle() {
  ui.start.hidden = false;
  ui.stop.hidden = true;
  ui.start.disabled = !models;
  ui.source.disabled = ui.room.disabled = false;
  for (const box of ui.targets.querySelectorAll("input")) box.disabled = false;
  ui.level.value = 0;
  setBusy(false);
}

async function startSpeaking() {
  hideBanner();
  const room = ui.room.value.trim() || null;
  if (room && !ROOM_RE.test(room)) {
    showBanner("bad_message", "a room name is 1-64 letters, digits, '_', '-' or '.'");
    ui.room.focus();
    return;
  }
  const source = ui.source.value === "auto" ? null : ui.source.value;
  const targets = [...ui.targets.querySelectorAll("input:checked")].map((b) => b.value);
  ui.start.hidden = true;
  ui.stop.hidden = false;
  ui.stop.focus();
  ui.source.disabled = ui.room.disabled = true;
  for (const box of ui.targets.querySelectorAll("input")) box.disabled = true;
  setBusy(true);
  stats.clear();
  renderLatency();
  const s = new SpeakSession({ source, targets, room });
  session = s;
  try {
    await s.start();
  } catch (err) {
    const code = err instanceof MicError ? err.code : "mic_failed";
    s.fail(code, err && err.message);
  }
  if (room && session === s) {
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({ mode: "listen", room }).toString();
    ui.share.hidden = false;
    ui.share.replaceChildren("Listeners can follow at ", Object.assign(document.createElement("a"), { href: url.href, textContent: url.href, target: "_blank", rel: "noopener" }));
  } else {
    ui.share.hidden = true;
  }
}

// -- listen -----------------------------------------------------------------------

class ListenSession {
  constructor(room, lang) {
    this.room = room;
    this.lang = lang;
    this.stopping = false;
    this.lastError = null;
    this.speakers = new Set();
    this.wasConnected = false;
  }

  start() {
    view.newGeneration(0);
    view.setLanguages(null, [], this.lang || null);
    const q = new URLSearchParams(this.lang ? { room: this.room, lang: this.lang } : { room: this.room });
    this.sock = new ReconnectingSocket(() => wsUrl(`/v1/listen?${q}`), {
      onOpen: () => {
        this.lastError = null;
        this.sock.healthy();
        if (this.wasConnected) view.marker("Reconnected", "info");
        this.wasConnected = true;
        hideBanner();
        this.showWaiting();
      },
      onText: (ev) => this.onEvent(ev),
      classify: (e) => classifyClose(e, this.lastError, { stopping: this.stopping, listening: true }),
      onState: (state, d) => this.onSocketState(state, d),
    });
    this.sock.open();
  }

  onEvent(ev) {
    switch (ev.type) {
      case "joined":
        this.speakers = new Set((ev.speakers || []).map((sp) => sp.session_id));
        this.showWaiting();
        break;
      case "speaker":
        if (ev.source_language) view.setLanguages(ev.source_language, [], this.lang || null);
        this.speakers.add(ev.session_id);
        view.marker("The speaker started", "info");
        this.showWaiting();
        break;
      case "transcript":
      case "translation":
        showCaption(ev);
        break;
      case "end":
        if (ev.session_id) {
          view.endSession(ev.session_id);
          this.speakers.delete(ev.session_id);
        }
        view.marker(ev.reason === "disconnected" ? "The speaker's connection dropped" : "The speaker stopped", "info");
        this.showWaiting();
        break;
      case "error":
        this.lastError = ev;
        showBanner(ev.code, ev.message, ev.fatal ? "error" : "warn");
        break;
      default:
        break;
    }
  }

  showWaiting() {
    const where = `room ${this.room}${this.lang ? ` · ${languageName(this.lang)}` : ""}`;
    setConn("connected", this.speakers.size ? `Listening · ${where}` : `Waiting for a speaker · ${where}`);
  }

  onSocketState(state, d) {
    if (state === "connecting") {
      setConn("connecting", d.attempt ? `Reconnecting (attempt ${d.attempt + 1})…` : CONN_TEXT.connecting);
    } else if (state === "reconnecting") {
      if (this.wasConnected && d.attempt === 1) view.marker("Connection lost — reconnecting…", "warn");
      setConn("reconnecting", CONN_TEXT.reconnecting, { until: d.at });
    } else if (state === "closed") {
      if (this.stopping) {
        setConn("idle", "Left the room");
      } else {
        const code = (this.lastError && this.lastError.code) || "";
        if (!this.lastError) showBanner(code || "closed", d.reason || `the server closed the connection (${d.code})`);
        setConn("failed", code ? `Stopped: ${code}` : "Disconnected");
      }
      if (session === this) {
        session = null;
        listenIdle();
      }
    }
  }

  stop() {
    this.stopping = true;
    this.sock.close();
  }
}

function listenIdle() {
  ui.join.hidden = false;
  ui.leave.hidden = true;
  ui.listenRoom.disabled = ui.listenLang.disabled = false;
  setBusy(false);
}

function startListening() {
  hideBanner();
  const room = ui.listenRoom.value.trim();
  const lang = ui.listenLang.value;
  if (!ROOM_RE.test(room)) {
    showBanner("bad_message", "a room name is 1-64 letters, digits, '_', '-' or '.'");
    ui.listenRoom.focus();
    return;
  }
  ui.join.hidden = true;
  ui.leave.hidden = false;
  ui.leave.focus();
  ui.listenRoom.disabled = ui.listenLang.disabled = true;
  setBusy(true);
  stats.clear();
  renderLatency();
  session = new ListenSession(room, lang);
  session.start();
}

// -- models and language choices -----------------------------------------------------

/** Target languages the server can produce from `source` (null: auto), from the routes of
 * /v1/models: a source's own rows, else the rows of "*" (any other language it speaks). */
export function targetsFor(m, source) {
  const out = new Set();
  const routes = m.routes || [];
  const named = new Set(routes.map((r) => r.source).filter((s) => s !== "*"));
  for (const r of routes) {
    if (source === null || r.source === source || (r.source === "*" && !named.has(source))) out.add(r.target);
  }
  if (source) out.delete(source);
  return [...out].sort();
}

function renderTargets() {
  const source = ui.source.value === "auto" ? null : ui.source.value;
  const checked = new Set([...ui.targets.querySelectorAll("input:checked")].map((b) => b.value));
  for (const label of ui.targets.querySelectorAll("label")) label.remove();
  const targets = targetsFor(models, source);
  for (const t of targets) {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value: t, checked: checked.has(t) });
    box.dataset.testid = `target-${t}`;
    label.append(box, ` ${languageName(t)}`);
    ui.targets.append(label);
  }
  ui.targetsNone.hidden = targets.length > 0;
  ui.targetsNone.textContent = `No translation from ${source ? languageName(source) : "this language"} on this server; captions only.`;
}

async function loadModels(attempt = 0) {
  try {
    const res = await fetch("/v1/models", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    models = await res.json();
  } catch (err) {
    ui.targetsNone.textContent = "Cannot reach the server; retrying…";
    showBanner("internal", `could not load /v1/models: ${err.message}`, "warn");
    setTimeout(() => loadModels(attempt + 1), Math.min(10000, 1000 * 2 ** attempt));
    return;
  }
  if (attempt) hideBanner();
  const asr = models.asr || {};
  const sources = models.source_languages || asr.languages || [];
  ui.source.replaceChildren();
  if (asr.multilingual) ui.source.append(new Option("Detect automatically", "auto"));
  for (const code of sources) ui.source.append(option(code));
  const pref = (navigator.language || "en").split("-")[0];
  if (sources.includes(pref)) ui.source.value = pref;
  else if (sources.includes("en")) ui.source.value = "en";
  renderTargets();

  // A listener gets the transcript (as spoken) plus, optionally, one translation.
  const listenLangs = [...(models.targets || [])].sort();
  ui.listenLang.replaceChildren(new Option("As spoken (no translation)", ""), ...listenLangs.map(option));
  const params = new URLSearchParams(window.location.search);
  const wanted = params.get("lang") || "";
  if (wanted && !listenLangs.includes(wanted)) ui.listenLang.append(option(wanted));
  ui.listenLang.value = wanted;
  if (!session) ui.start.disabled = false;
  if (params.get("mode") === "listen" && params.get("room") && params.get("join") !== "0" && !session) {
    startListening();
  }
}

// -- options (persisted) -------------------------------------------------------------

function loadOption(name, input, cls) {
  let on = false;
  try {
    on = window.localStorage.getItem(`parley.${name}`) === "1";
  } catch {
    // storage may be disabled; options then last for this page only
  }
  input.checked = on;
  document.documentElement.classList.toggle(cls, on);
  input.addEventListener("change", () => {
    document.documentElement.classList.toggle(cls, input.checked);
    try {
      window.localStorage.setItem(`parley.${name}`, input.checked ? "1" : "0");
    } catch {
      // see above
    }
    follower.update();
  });
}

// -- wiring ---------------------------------------------------------------------------

function setMode(mode) {
  ui.speakForm.hidden = mode !== "speak";
  ui.listenForm.hidden = mode !== "listen";
  for (const input of ui.modeInputs) input.checked = input.value === mode;
}

function exportCaptions(kind) {
  const track = ui.exportTrack.value || "source";
  const finals = view.track(track);
  const cues = buildCues(finals);
  const lang = track === "source" ? view.sourceLang : track;
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  const name = `parley-${stamp}-${track === "source" ? lang || "transcript" : track}`;
  if (kind === "vtt") download(`${name}.vtt`, toWebVTT(cues, { language: lang }), "text/vtt");
  else download(`${name}.srt`, toSRT(cues), "application/x-subrip");
}

function init() {
  const params = new URLSearchParams(window.location.search);
  setMode(params.get("mode") === "listen" ? "listen" : "speak");
  if (params.get("room")) {
    ui.listenRoom.value = params.get("room");
    ui.room.value = params.get("room");
  }
  for (const input of ui.modeInputs) input.addEventListener("change", () => setMode(input.value));
  ui.source.addEventListener("change", renderTargets);
  ui.speakForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!session) startSpeaking();
  });
  ui.stop.addEventListener("click", () => session && session.stop());
  ui.listenForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!session) startListening();
  });
  ui.leave.addEventListener("click", () => session && session.stop());
  ui.retryNow.addEventListener("click", () => session && session.sock && session.sock.retryNow());
  ui.bannerClose.addEventListener("click", hideBanner);
  ui.jump.addEventListener("click", () => {
    follower.jump();
    ui.scroll.focus();
  });
  ui.clear.addEventListener("click", () => {
    view.clear();
    ui.empty.hidden = false;
    trackSig = "";
    refreshTracks();
  });
  ui.exportVtt.addEventListener("click", () => exportCaptions("vtt"));
  ui.exportSrt.addEventListener("click", () => exportCaptions("srt"));
  loadOption("large", ui.optLarge, "large");
  loadOption("contrast", ui.optContrast, "hc");
  loadOption("under", ui.optUnder, "under");
  window.addEventListener("beforeunload", () => {
    if (session) session.stop();
  });
  renderLatency();
  refreshTracks();
  loadModels();
}

init();
