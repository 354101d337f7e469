// Caption files from final captions: WebVTT (W3C) and SubRip (SRT).
//
// Long finals are split into cues of at most two lines of ~42 characters
// (the usual subtitle guideline), timed by their word timestamps.

import { joinWords } from "./captions.js";

export const MAX_LINE = 42;
export const MAX_LINES = 2;
const MIN_CUE_S = 0.5;

/** "HH:MM:SS.mmm" (WebVTT, sep ".") or "HH:MM:SS,mmm" (SRT, sep ","). */
export function timestamp(seconds, sep = ".") {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const rest = ms % 1000;
  const p2 = (n) => String(n).padStart(2, "0");
  return `${p2(h)}:${p2(m)}:${p2(s)}${sep}${String(rest).padStart(3, "0")}`;
}

/** Greedy line wrap at spaces; a word longer than a line gets a line of its own. */
export function wrap(text, width = MAX_LINE) {
  const words = text.split(/\s+/).filter(Boolean);
  const lines = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else {
      line = line ? `${line} ${w}` : w;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Cues from final captions [{start, end, text, language, words}] (seconds).
 * Returns [{start, end, lines: string[]}], sorted, with end > start.
 */
export function buildCues(finals, { maxLine = MAX_LINE, maxLines = MAX_LINES } = {}) {
  const cues = [];
  for (const f of finals) {
    const text = clean(f.text);
    if (!text) continue;
    const lines = wrap(text, maxLine);
    const words = (f.words || []).filter((w) => String(w.word).trim());
    if (lines.length <= maxLines || words.length === 0) {
      pushCue(cues, f.start, f.end, lines);
      continue;
    }
    // Too long for one cue: group words until the wrapped text would overflow.
    let group = [];
    const flush = () => {
      if (!group.length) return;
      pushCue(cues, group[0].start, group[group.length - 1].end, wrap(clean(joinWords(group, f.language)), maxLine));
      group = [];
    };
    for (const w of words) {
      const trial = wrap(clean(joinWords([...group, w], f.language)), maxLine);
      if (group.length && trial.length > maxLines) flush();
      group.push(w);
    }
    flush();
  }
  cues.sort((a, b) => a.start - b.start || a.end - b.end);
  return cues;
}

function pushCue(cues, start, end, lines) {
  if (!lines.length) return;
  const s = Math.max(0, Number(start) || 0);
  const e = Math.max(Number(end) || 0, s + MIN_CUE_S);
  cues.push({ start: s, end: e, lines });
}

/** One-line plain text: no line breaks, no cue-timing arrow. */
function clean(text) {
  return String(text || "")
    .replace(/\s+/g, " ")
    .replace(/-->/g, "\u2192")
    .trim();
}

function escapeVtt(line) {
  return line.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function toWebVTT(cues, { language } = {}) {
  const head = language ? `WEBVTT\n\nNOTE language: ${language}\n` : "WEBVTT\n";
  const body = cues.map(
    (c, i) => `${i + 1}\n${timestamp(c.start, ".")} --> ${timestamp(c.end, ".")}\n${c.lines.map(escapeVtt).join("\n")}\n`,
  );
  return [head, ...body].join("\n");
}

export function toSRT(cues) {
  return cues
    .map((c, i) => `${i + 1}\n${timestamp(c.start, ",")} --> ${timestamp(c.end, ",")}\n${c.lines.join("\n")}\n`)
    .join("\n");
}

/** Offer `text` as a file download. */
export function download(filename, text, mime) {
  const blob = new Blob([text], { type: `${mime};charset=utf-8` });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
