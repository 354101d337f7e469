// Caption state and its rendering.
//
// One row per transcript segment. A row is created by the first partial of its
// segment, updated in place by later partials (stable prefix in full contrast,
// unstable tail provisional) and settled by the final: the element never moves,
// so the layout does not jump. Translations go in per-language columns of the
// row of their first source segment (fixed when they first appear).
//
// Segment ids restart with every connection, so rows are keyed by
// "generation:segment"; each generation has a time offset so that exported
// times keep running across reconnects.

const NO_SPACE_LANGS = new Set(["zh", "ja", "th", "lo", "km", "my", "bo"]);
const MAX_STORED_FINALS = 20000; // export memory bound (hours of speech)

export function languageName(code, locale = navigator.language) {
  if (!code) return "";
  try {
    const name = new Intl.DisplayNames([locale, "en"], { type: "language" }).of(code);
    return name && name !== code ? name : code;
  } catch {
    return code;
  }
}

export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export class CaptionView {
  /**
   * @param {HTMLElement} list       the <ol> that holds the rows
   * @param {object} opts
   *   announcer: HTMLElement        aria-live region: finals are announced here
   *   header: HTMLElement           column header (language names)
   *   maxRows: number               rows kept in the DOM (all finals stay exportable)
   *   onChange(): void              after every visible change (for auto-scroll)
   */
  constructor(list, { announcer = null, header = null, maxRows = 400, onChange = () => {} } = {}) {
    this.list = list;
    this.announcer = announcer;
    this.header = header;
    this.maxRows = maxRows;
    this.onChange = onChange;
    this.clear();
  }

  clear() {
    this.gen = 0;
    this.offset = 0;
    this.rows = new Map(); // "gen:segment" -> row record
    this.trAnchors = new Map(); // "gen:lang:tseg" -> row key
    this.finalsList = []; // {key, start, end, text, language, words}
    this.trFinals = new Map(); // lang -> [{start, end, text}]
    this.sourceLang = null;
    this.sessionOffsets = new Map();
    this.origin = performance.now();
    this.langs = []; // translation columns, in order of appearance
    this.announceLang = null; // null: announce transcript finals; else this translation
    this.list.replaceChildren();
    if (this.announcer) this.announcer.replaceChildren();
    this.renderHeader();
  }

  /** A new connection: segment ids restart; times continue from `offsetSeconds`. */
  newGeneration(offsetSeconds = 0) {
    this.interruptPartials();
    this.gen += 1;
    this.offset = offsetSeconds;
  }

  /** Declare the languages of this session (from `ready` or the listener's choice). */
  setLanguages(source, targets, announceLang = null) {
    this.sourceLang = source || this.sourceLang;
    for (const t of targets) if (t !== source && !this.langs.includes(t)) this.langs.push(t);
    this.announceLang = announceLang;
    this.renderHeader();
    this.list.style.setProperty("--cols", String(1 + this.langs.length));
  }

  // -- events --------------------------------------------------------------

  /** Rows are keyed per speaker session: the room's session_id, else this page's connection. */
  genOf(ev) {
    return ev.session_id ? `s${ev.session_id}` : String(this.gen);
  }

  /**
   * Seconds added to an event's stream times. A room's speaker sessions each
   * start at 0, so their times are placed on this page's clock (from when
   * the first event of that session arrived).
   */
  offsetOf(ev) {
    if (!ev.session_id) return this.offset;
    let off = this.sessionOffsets.get(ev.session_id);
    if (off === undefined) {
      const now = (performance.now() - this.origin) / 1000;
      off = Math.max(0, now - (Number(ev.end) || 0));
      this.sessionOffsets.set(ev.session_id, off);
    }
    return off;
  }

  /** A speaker's session ended: its unfinished partials will not be finalized. */
  endSession(sessionId) {
    const prefix = `s${sessionId}:`;
    for (const row of this.rows.values()) {
      if (row.key.startsWith(prefix) && !row.final && row.el.dataset.state === "partial") {
        row.el.dataset.state = "interrupted";
      }
    }
  }

  transcript(ev) {
    const key = `${this.genOf(ev)}:${ev.segment}`;
    const off = this.offsetOf(ev);
    const row = this.row(key, ev.start + off);
    if (row.final) return; // late partial of a settled segment: ignore
    row.start = ev.start + off;
    row.end = ev.end + off;
    if (ev.language && !this.sourceLang) {
      this.sourceLang = ev.language;
      this.renderHeader();
    }
    row.src.lang = ev.language || this.sourceLang || "";
    if (ev.final) {
      row.final = true;
      row.el.dataset.state = "final";
      row.stable.textContent = ev.text;
      row.unstable.textContent = "";
      row.src.classList.remove("is-empty");
      if (this.finalsList.length < MAX_STORED_FINALS && ev.text.trim()) {
        this.finalsList.push({
          key,
          start: ev.start + off,
          end: ev.end + off,
          text: ev.text.trim(),
          language: ev.language || this.sourceLang,
          words: (ev.words || []).map((w) => ({ ...w, start: w.start + off, end: w.end + off })),
        });
      }
      if (!this.announceLang || this.announceLang === (ev.language || this.sourceLang)) this.announce(ev.text, row.src.lang);
    } else {
      const stable = ev.stable || "";
      let tail = ev.unstable || "";
      if (ev.text && ev.text.startsWith(stable)) tail = ev.text.slice(stable.length);
      row.stable.textContent = stable;
      row.unstable.textContent = tail;
      row.src.classList.toggle("is-empty", !(stable + tail).trim());
    }
    row.time.textContent = formatClock(row.start);
    row.time.dateTime = `PT${row.start.toFixed(1)}S`;
    this.onChange();
  }

  translation(ev) {
    const lang = ev.lang;
    if (!lang) return;
    if (!this.langs.includes(lang)) this.setLanguages(this.sourceLang, [lang], this.announceLang);
    const gen = this.genOf(ev);
    const tkey = `${gen}:${lang}:${ev.segment}`;
    let anchor = this.trAnchors.get(tkey);
    if (!anchor) {
      const first = Array.isArray(ev.source_segments) && ev.source_segments.length ? ev.source_segments[0] : `t${ev.segment}`;
      anchor = `${gen}:${first}`;
      this.trAnchors.set(tkey, anchor);
    }
    const off = this.offsetOf(ev);
    const row = this.row(anchor, ev.start + off);
    const cell = this.cell(row, lang);
    let span = cell.querySelector(`[data-tseg="${CSS.escape(String(ev.segment))}"]`);
    if (!span) {
      span = document.createElement("span");
      span.className = "tseg";
      span.dataset.tseg = String(ev.segment);
      cell.append(span);
    }
    if (span.dataset.state === "final") return;
    span.dataset.state = ev.final ? "final" : "partial";
    span.textContent = (ev.text || "").trim() + " ";
    cell.classList.remove("is-empty");
    if (ev.final && (ev.text || "").trim()) {
      const list = this.trFinals.get(lang) || [];
      if (list.length < MAX_STORED_FINALS) {
        list.push({ start: ev.start + off, end: ev.end + off, text: ev.text.trim(), language: lang, words: [] });
      }
      this.trFinals.set(lang, list);
      if (this.announceLang === lang) this.announce(ev.text, lang);
    }
    this.onChange();
  }

  /** A divider line in the captions (connection lost / restored). */
  marker(text, kind = "info") {
    const li = document.createElement("li");
    li.className = `marker marker-${kind}`;
    li.dataset.testid = "caption-marker";
    li.textContent = text;
    this.list.append(li);
    this.trim();
    this.onChange();
  }

  // -- export --------------------------------------------------------------

  /** Final captions of a track: "source" or a translation language. */
  track(name = "source") {
    const items = name === "source" ? this.finalsList : this.trFinals.get(name) || [];
    return [...items].sort((a, b) => a.start - b.start);
  }

  tracks() {
    const out = [{ id: "source", label: `Transcript${this.sourceLang ? ` (${languageName(this.sourceLang)})` : ""}`, count: this.finalsList.length }];
    for (const lang of this.langs) {
      out.push({ id: lang, label: `Translation (${languageName(lang)})`, count: (this.trFinals.get(lang) || []).length });
    }
    return out;
  }

  // -- DOM -----------------------------------------------------------------

  row(key, start) {
    let row = this.rows.get(key);
    if (row) return row;
    const el = document.createElement("li");
    el.className = "row";
    el.dataset.key = key;
    el.dataset.state = "partial";
    el.dataset.testid = "caption-row";
    const time = document.createElement("time");
    time.className = "ts";
    time.textContent = formatClock(start || 0);
    const cols = document.createElement("div");
    cols.className = "cols";
    const src = document.createElement("p");
    src.className = "src is-empty";
    src.dataset.testid = "caption-source";
    const stable = document.createElement("span");
    stable.className = "stable";
    const unstable = document.createElement("span");
    unstable.className = "unstable";
    src.append(stable, unstable);
    cols.append(src);
    el.append(time, cols);
    row = { key, el, time, cols, src, stable, unstable, cells: new Map(), final: false, start: 0, end: 0 };
    for (const lang of this.langs) this.cell(row, lang); // reserve the columns: no reflow later
    this.rows.set(key, row);
    this.list.append(el);
    this.trim();
    return row;
  }

  cell(row, lang) {
    let cell = row.cells.get(lang);
    if (!cell) {
      cell = document.createElement("p");
      cell.className = "tr is-empty";
      cell.lang = lang;
      cell.dataset.lang = lang;
      cell.dataset.testid = "caption-translation";
      row.cells.set(lang, cell);
      row.cols.append(cell);
    }
    return cell;
  }

  interruptPartials() {
    for (const row of this.rows.values()) {
      if (!row.final && row.el.dataset.state === "partial") {
        row.el.dataset.state = "interrupted";
        row.el.title = "Not finished: the connection dropped";
      }
    }
  }

  trim() {
    while (this.list.children.length > this.maxRows) {
      const first = this.list.firstElementChild;
      if (first.dataset.key) this.rows.delete(first.dataset.key);
      first.remove();
    }
  }

  announce(text, lang) {
    if (!this.announcer || !text.trim()) return;
    const p = document.createElement("p");
    p.textContent = text.trim();
    if (lang) p.lang = lang;
    this.announcer.append(p);
    while (this.announcer.children.length > 6) this.announcer.firstElementChild.remove();
  }

  renderHeader() {
    if (!this.header) return;
    const names = [this.sourceLang ? languageName(this.sourceLang) : "Transcript", ...this.langs.map((l) => languageName(l))];
    this.header.hidden = this.langs.length === 0;
    this.header.replaceChildren(
      ...names.map((n, i) => {
        const span = document.createElement("span");
        span.textContent = i === 0 ? `${n} (spoken)` : n;
        return span;
      }),
    );
    this.header.style.setProperty("--cols", String(names.length));
  }
}

/**
 * Follow the newest caption unless the reader scrolled back. Only a scroll
 * *up* by the reader disengages (content growth never moves scrollTop up);
 * reaching the bottom again re-engages.
 */
export class ScrollFollower {
  constructor(scroller, onFollowChange = () => {}) {
    this.el = scroller;
    this.following = true;
    this.onFollowChange = onFollowChange;
    this.lastTop = 0;
    this.pending = false;
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
  }

  atBottom() {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 32;
  }

  onScroll() {
    const top = this.el.scrollTop;
    if (this.atBottom()) this.set(true);
    else if (top < this.lastTop - 2) this.set(false);
    this.lastTop = top;
  }

  set(value) {
    if (value !== this.following) {
      this.following = value;
      this.onFollowChange(value);
    }
  }

  /** Content changed: stay at the bottom if following (once per frame). */
  update() {
    if (!this.following || this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      if (this.following) this.jump();
    });
  }

  jump() {
    this.el.scrollTop = this.el.scrollHeight;
    this.lastTop = this.el.scrollTop;
    this.set(true);
  }
}

export function joinWords(words, language) {
  const sep = NO_SPACE_LANGS.has(language) ? "" : " ";
  return words.map((w) => String(w.word).trim()).filter(Boolean).join(sep);
}
