// What to tell people about each error code, and whether to reconnect after it.
// Server codes come from server/errors.py; mic_* codes from audio.js.

const TEXT = {
  // microphone (browser side)
  mic_denied:
    "Microphone access was denied. Allow the microphone for this site (the icon in the address bar), then press Start again.",
  mic_missing: "No microphone was found. Connect one, then press Start again.",
  mic_busy: "The microphone is in use by another application or could not be opened.",
  mic_insecure: "Browsers only allow the microphone on HTTPS pages or on localhost. Open this page over HTTPS.",
  mic_failed: "The microphone could not be started.",
  mic_ended: "The microphone stopped (it was unplugged or switched off).",
  // server: the request
  unsupported_language: "The server cannot handle that language with the models it has loaded.",
  unsupported_pair: "The server has no model that translates between those languages.",
  bad_audio_format: "The server does not accept this audio format.",
  bad_audio: "The server could not decode the audio.",
  frame_too_large: "An audio frame was larger than the server accepts.",
  // server: capacity and limits
  overloaded: "The server is busy (all its sessions are in use). Trying again shortly.",
  rate_limited: "Too many requests; slowing down.",
  session_too_long: "The session reached the server's maximum length; starting a new one.",
  idle_timeout: "The server closed the session after a long silence with no audio.",
  slow_consumer: "This connection fell behind the live captions; reconnecting.",
  // server: access
  unauthorized: "The server needs a valid access token.",
  forbidden: "This access token is not allowed to use that room.",
  // server: protocol and faults
  bad_json: "The server could not read a message from this page (bad JSON).",
  bad_message: "The server rejected a message from this page.",
  unknown_type: "The server did not understand a message from this page.",
  not_started: "Audio was sent before the session started.",
  already_started: "The session was already started.",
  model_error: "A model on the server failed.",
  internal: "The server hit an internal error.",
  room_not_found: "There is no such room (yet). Waiting for the speaker to start.",
};

/** Human text for an error code, with the server's own message as detail. */
export function describeError(code, detail) {
  const text = TEXT[code] || `Error: ${code}.`;
  return detail && detail !== code ? { text, detail } : { text, detail: "" };
}

// Codes after which reconnecting cannot help: the same request would fail again.
const PERMANENT = new Set([
  "unsupported_language",
  "unsupported_pair",
  "bad_audio_format",
  "bad_json",
  "bad_message",
  "unknown_type",
  "unauthorized",
  "forbidden",
  "idle_timeout",
]);

/**
 * Decide what a close means. `lastError` is the last error event of the
 * connection, if any. Returns {retry, delayMs?, code?}.
 */
export function classifyClose(event, lastError, { stopping = false, listening = false } = {}) {
  if (stopping) return { retry: false };
  const code = (lastError && lastError.code) || event.reason || "";
  if (lastError && lastError.fatal && PERMANENT.has(lastError.code)) return { retry: false, code };
  if (event.code === 1000) {
    // A clean close we did not ask for: a speaker's session ended server-side
    // (e.g. session_too_long); a listener's room closed. Keep going either way.
    return { retry: true, delayMs: listening ? undefined : 0, code };
  }
  if (event.code === 1013 || code === "overloaded") {
    const delayMs = lastError && lastError.retry_after_ms ? lastError.retry_after_ms : undefined;
    return { retry: true, delayMs, code: "overloaded" };
  }
  if (event.code === 1008) {
    // Policy: retry only the codes that a fresh connection fixes.
    if (code === "slow_consumer" || code === "session_too_long" || code === "rate_limited") {
      return { retry: true, code };
    }
    return { retry: false, code };
  }
  return { retry: true, code }; // 1006 (dropped), 1001 (going away), 1011 (server fault), ...
}
