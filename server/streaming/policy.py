"""The streaming recognition policy: a sans-I/O core.

`feed(samples, now)` takes 16 kHz audio; `next_request(now)` says when and what
to decode; `on_result(request, result, now)` takes the recognizer's words;
`events()` drains what to tell the client. No asyncio, no sockets, no model:
the VAD is injected (anything with `feed(samples) -> probabilities`), so the
core is deterministic and unit-testable with arrays and a fake clock.

How it works
- Silero VAD (32 ms windows) opens an utterance at speech onset (with a short
  pre-roll) and closes it after `endpoint_silence_s` of silence.
- While an utterance is open, the buffer since the last trim point is
  re-decoded every `decode_interval_s` of new audio, prompted with recent
  committed text (final decodes are not: they hear better cold). LocalAgreement-n
  commits the words n decodes agree on, but not a word every agreeing decode found
  improbable: Whisper's hallucinations ("Thank you." over a cut-off word) are stable
  across decodes, not probable.
- Committed words form the open segment (the partial's `stable` part); the
  rest of the latest hypothesis is its `unstable` tail.
- A segment becomes final at a sentence end among committed words, at an
  endpoint (a last decode commits everything; the latest partial hypothesis
  stands in for it if it heard the whole utterance, doubts no word and leaves
  no speech unheard after its last word), at
  `max_segment_s`, or on flush/stop. The buffer is trimmed at finalized/
  committed word ends so a decode never grows past `max_buffer_s` by much.

Latency modes (`PolicyOptions.latency`, presets from `latency_options`): one core, three
settings of its knobs.
- `fast`: the above.
- `accurate`: nothing is committed while the utterance goes on (`commit_partials` off:
  partials are all unstable text); when it ends (endpoint, or `max_utterance_s` (20 s) at a
  dip in the VAD) one decode of the whole utterance, with the context audio before it, is
  its final, as `parley transcribe` hears it. Partials are decoded less often
  (`decode_interval_s` 1 s): they are only shown.
- `balanced`: `accurate` with utterances cut at the first VAD dip after 6 s of speech (at
  the latest 2 s later), so a speaker who does not pause waits for a final at most about
  8 s instead of 23; each piece is still decoded whole, with the audio before it as
  context. (A `fast` with a later commit rule, words committed only 1.5 s behind the
  decoded audio, made no fewer errors than `fast` in the replay: docs/benchmarks-log.md,
  2026-12-03 16:00.)

Invariants
- At most one request is in flight; results arrive in request order.
- Every committed word is finalized exactly once, in order (nothing finalized
  is lost; nothing is finalized twice).
- No decode runs on audio the VAD never called speech, and words that lie in
  VAD silence are dropped: Whisper hallucinates on silence and noise.
- An utterance is not finalized from a decode with context that left
  `_MISSED_SPEECH_S` of its speech unheard after the last word: it is decoded
  alone first (`_missed_speech`), however far the decodes lag behind the audio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args

import numpy as np

from server.streaming.agreement import LocalAgreement
from server.streaming.events import (
    AsrRequest,
    AsrResult,
    Decoded,
    Final,
    FinalReason,
    Partial,
    PolicyEvent,
)
from server.streaming.words import Word, join_words

SAMPLE_RATE = 16000
VAD_WINDOW = 512
_VAD_RESET_S = 2.0  # silence after which the VAD's recurrent state is reset
#: Uncommitted speech a decode with context may leave unheard before the utterance
#: is decoded alone (see `_missed_speech`).
_MISSED_SPEECH_S = 1.0


LatencyMode = Literal["fast", "balanced", "accurate"]
LATENCY_MODES: tuple[LatencyMode, ...] = get_args(LatencyMode)


class Vad(Protocol):
    def feed(self, samples: np.ndarray) -> np.ndarray: ...

    def reset_state(self) -> None: ...


@dataclass(frozen=True)
class PolicyOptions:
    vad_threshold: float = 0.5  # speech starts when p >= this
    vad_off_threshold: float = 0.35  # and continues while p >= this
    speech_onset_s: float = 0.064  # consecutive speech needed to open an utterance
    endpoint_silence_s: float = 0.5  # silence that ends an utterance
    pre_roll_s: float = 0.3
    post_roll_s: float = 0.2
    decode_interval_s: float = 0.3  # new audio between re-decodes
    min_decode_s: float = 0.6  # shortest window worth decoding (short ones make Whisper repeat)
    agreement_n: int = 2
    #: Agreement does not commit a word this improbable in every agreeing decode; a
    #: later decode or the final one decides it (see `LocalAgreement.insert`).
    commit_min_probability: float = 0.1
    #: A word must end this long before the decoded window's end to be committed.
    commit_margin_s: float = 0.3
    #: A final decode's closing sentence is dropped when its first word is one agreement
    #: would doubt and a sentence ended before it: Whisper's "Alright, thanks. This is
    #: the first one." over the silence after an utterance (see `_cut_closing`).
    final_cut_closing: bool = True
    max_buffer_s: float = 12.0
    #: Already-finalized audio kept before new speech: Whisper hears each sentence
    #: in context instead of cold (its words are matched by time, not emitted again).
    #: The context is decoded again rather than forced as the decoder's prefix: forcing
    #: its committed words carries their errors into the new speech (tiny.en, three
    #: replay layouts: 161 errors; forced 209; forced as timed segments 190).
    context_s: float = 4.0
    max_segment_s: float = 15.0
    sentence_finals: bool = True
    #: Finalized text before the window sent as Whisper's prompt, at most this many
    #: characters (0: no prompt).
    prompt_chars: int = 200
    #: Whether final decodes (an utterance's last, whole) are prompted as well. They hear
    #: better without: Whisper decodes the utterance cold, as `parley transcribe` decodes
    #: its windows. Partials need the prompt: it keeps successive decodes agreeing.
    #: tiny.en, nine replay layouts (docs/benchmarks-log.md): utterance-at-once 452 errors
    #: unprompted against 496 prompted; streaming, batched engine, 486 with unprompted
    #: finals against 495; with no prompt on any decode, +39 over seven layouts.
    prompt_finals: bool = False
    min_speech_s: float = 0.15  # an utterance with less VAD speech is ignored
    #: A word needs VAD activity within this distance. 0.25 let Whisper's "Thank you."
    #: after an utterance's last word through (policy replay, tiny.en: 16.8 -> 16.3 % WER).
    word_speech_margin_s: float = 0.1
    #: "Activity" for that test is much weaker than speech: soft trailing words score
    #: 0.15-0.35 and are real; hallucinations sit in true silence (p < 0.05).
    word_vad_threshold: float = 0.1
    #: The latency mode these options were made for (`latency_options`); the knobs below
    #: and above are what the core reads.
    latency: LatencyMode = "fast"
    #: Commit words while the utterance goes on (LocalAgreement; stable partials, sentence
    #: finals). Off: nothing is committed before the utterance ends, its final is one
    #: decode of the whole of it.
    commit_partials: bool = True
    #: Decode the utterance once more when it ends even if the latest partial decode heard
    #: all of it (that decode may have been greedy, crowded or prompted).
    final_redecode: bool = False
    #: An utterance this long ends at the next VAD dip (p < `vad_threshold`), at the
    #: latest `max_utterance_grace_s` later, and the speech goes on in a new one (None: no
    #: limit; `max_segment_s` and `max_buffer_s` bound committed text instead).
    max_utterance_s: float | None = None
    max_utterance_grace_s: float = 3.0

    def __post_init__(self) -> None:
        if self.latency not in LATENCY_MODES:
            raise ValueError(f"latency must be one of {', '.join(LATENCY_MODES)}, "
                             f"not {self.latency!r}")
        if self.max_utterance_s is not None and (
            self.max_utterance_s + self.max_utterance_grace_s + self.context_s > 29.0
        ):
            raise ValueError("max_utterance_s + max_utterance_grace_s + context_s must stay "
                             "under Whisper's 30 s window")


def latency_options(mode: LatencyMode, base: PolicyOptions | None = None) -> PolicyOptions:
    """`base` (default: the defaults) set for latency mode `mode` (module docstring).

    `fast` is `base` itself. The other modes set only the knobs that make them.
    """
    opts = base or PolicyOptions()
    if mode == "fast":
        return replace(opts, latency="fast")
    if mode in ("balanced", "accurate"):
        cap, grace = (6.0, 2.0) if mode == "balanced" else (20.0, 3.0)
        return replace(
            opts, latency=mode, commit_partials=False, sentence_finals=False,
            final_redecode=True, decode_interval_s=1.0, max_utterance_s=cap,
            max_utterance_grace_s=grace, context_s=min(opts.context_s, 4.0),
            max_buffer_s=28.0,
        )
    raise ValueError(f"latency must be one of {', '.join(LATENCY_MODES)}, not {mode!r}")


class StreamingTranscriber:
    def __init__(
        self, vad: Vad, options: PolicyOptions | None = None, language: str | None = None
    ) -> None:
        self.opts = options or PolicyOptions()
        self.language = language
        #: Re-decode cadence; the session stretches it under load (adaptive cadence).
        self.decode_interval_s = self.opts.decode_interval_s
        self._vad = vad
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # absolute sample index of _buf[0]
        self._pos = 0  # absolute samples fed
        self._vad_pos = 0  # absolute samples the VAD has judged
        self._speech: deque[tuple[int, int]] = deque()  # (start, end) sample spans of speech
        self._heard: deque[tuple[int, int]] = deque()  # spans of any VAD activity
        self._in_utt = False
        self._onset_run = 0
        self._idle_run = 0
        self._silence_run = 0
        self._utt_start = 0
        self._utt_speech = 0  # samples of speech in the open utterance
        self._endpoints: deque[tuple[int, int, FinalReason]] = deque()  # (start, end, reason)
        self._final_words: deque[Word] = deque(maxlen=64)  # recent finalized words, for prompts
        self._inflight: AsrRequest | None = None
        #: Decode the current utterance alone (no context audio, no prompt): set when
        #: a decode with context heard nothing of the utterance's uncommitted speech.
        self._alone = False
        self._next_id = 1
        self._last_decode_end = 0
        self._agreement = LocalAgreement(self.opts.agreement_n, self.opts.commit_min_probability)
        self._open: list[Word] = []  # committed, not yet final
        self._tail: list[Word] = []  # latest uncommitted hypothesis
        self._segment = 0
        self._events: list[PolicyEvent] = []
        self._last_partial: tuple[str, str] | None = None
        self._closed = False

    # -- input -------------------------------------------------------------

    def feed(self, samples: np.ndarray, now: float) -> None:
        if self._closed:
            raise RuntimeError("feed() after close()")
        if samples.size == 0:
            return
        self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        self._pos += samples.size
        for p in self._vad.feed(samples):
            self._on_vad_window(float(p))
        self._trim_idle()

    def flush(self, now: float) -> None:
        """End the current utterance now (client `flush`)."""
        self._end_utterance(self._pos, "flush")

    def close(self, now: float) -> None:
        """End of stream: finalize everything pending, then `done` turns true."""
        self._end_utterance(self._pos, "stop")
        self._closed = True

    @property
    def done(self) -> bool:
        return self._closed and self._inflight is None and not self._endpoints

    @property
    def backlog_s(self) -> float:
        """Speech received but not yet decoded (what backpressure watches).

        Counted from the start of the pending utterance, not of the buffer: the
        buffer keeps up to `context_s` of earlier, already decoded audio as context,
        and counting it let a fresh utterance look like seconds of backlog.
        """
        if self._endpoints:
            begin = self._endpoints[0][0]
        elif self._in_utt:
            begin = self._utt_start
        else:
            return 0.0
        return (self._pos - max(self._last_decode_end, self._buf_start, begin)) / SAMPLE_RATE

    @property
    def stream_time(self) -> float:
        return self._pos / SAMPLE_RATE

    # -- decoding ----------------------------------------------------------

    def next_request(self, now: float) -> AsrRequest | None:
        if self._inflight is not None:
            return None
        o = self.opts
        while self._endpoints:
            begin, end, _ = self._endpoints[0]
            if self._alone:
                return self._request(end, final=True, start=begin)
            if (
                not o.final_redecode
                and self._last_decode_end >= end
                and self._last_decode_end > self._buf_start
                and not any(map(self._agreement.doubts, self._tail))
                and self._unheard(self._tail, begin, end) < _MISSED_SPEECH_S * SAMPLE_RATE
            ):
                # The latest hypothesis already heard the whole utterance: commit it
                # instead of decoding the same audio again (saves a decode of latency).
                # Not when it holds a word agreement would not commit ("Fox. Thank
                # you."): the final decode decides those.
                self._finish_endpoint(end, self._tail)
                continue
            if self._speech_in(begin, end) >= o.min_speech_s * SAMPLE_RATE:
                return self._request(end, final=True)
            # Nothing worth decoding (a cough, a click): finalize what is committed.
            self._finish_endpoint(end, [])
        if not self._in_utt:
            return None
        length = self._pos - self._utt_start
        fresh = self._pos - self._last_decode_end
        if length >= o.min_decode_s * SAMPLE_RATE and fresh >= self.decode_interval_s * SAMPLE_RATE:
            return self._request(self._pos, final=False,
                                 start=self._utt_start if self._alone else None)
        return None

    def on_result(self, request: AsrRequest, result: AsrResult, now: float) -> None:
        if self._inflight is None or request.id != self._inflight.id:
            raise RuntimeError("result for a request that is not in flight")
        self._inflight = None
        self._last_decode_end = int(request.end_s * SAMPLE_RATE)
        if self.language is None and result.language and result.language_probability >= 0.5:
            self.language = result.language
        words = [
            w.shifted(request.start_s)
            for w in result.words
            if w.text.strip()
        ]
        # The silence lent before the stream's start holds no speech; a word timed into it
        # starts at the stream's start.
        words = [w if w.start >= 0 else Word(w.text, 0.0, max(w.end, 0.0), w.probability)
                 for w in words]
        words = [w for w in words if self._has_speech_near(w)]
        self._events.append(Decoded(request.id, request.end_s - request.start_s, request.final))
        if request.final:
            self._on_final_result(request, words)
        else:
            fresh = self._agreement.new_part(words)
            if self._missed_speech(request, fresh, self._utt_start, final=False):
                self._alone = True
            if self.opts.commit_partials:
                until = request.end_s - self.opts.commit_margin_s
                committed, self._tail = self._agreement.insert(words, until)
                self._open.extend(committed)
            else:
                self._tail = self._agreement.new_part(words)
            self._finalize_ready()
            self._trim_long_buffer()
            self._emit_partial()

    def _missed_speech(
        self, request: AsrRequest, fresh: list[Word], begin: int, *, final: bool
    ) -> bool:
        """A decode with context that left speech of the utterance (from `begin`) unheard.

        Whisper now and then transcribes only the context (or drops the whole window
        in its no-speech check) after context audio and a prompt, or ends its text
        early: on a window opening with 4 s of digital silence, tiny.en stopped at
        9.4 s of 11.1 in every decode of an utterance, its last seven words unsaid,
        and heard them all in the utterance alone. The utterance then has to be heard
        alone. A partial is judged only when it heard nothing new (speech at its
        window's edge is heard by the next decode); a final decode, with no decode
        after it, also by the speech it left after its last word. Which decode is the
        final one depends on how far the decodes lag behind the audio (a fast sender,
        a busy server): the partials may have committed the early part already.
        """
        if self._alone or max(request.start_s, 0.0) * SAMPLE_RATE >= begin:
            return False  # no context to blame
        if fresh and not final:
            return False
        left = self._unheard(fresh, begin, int(request.end_s * SAMPLE_RATE))
        return left >= _MISSED_SPEECH_S * SAMPLE_RATE

    def _unheard(self, words: list[Word], begin: int, end: int) -> int:
        """Samples of speech in [begin, end) after the committed words and `words`."""
        heard_s = max(self._agreement.last_committed_end, words[-1].end if words else 0.0)
        return self._speech_in(max(int(heard_s * SAMPLE_RATE), begin), end)

    def _cut_closing(self, fresh: list[Word]) -> list[Word]:
        """`fresh` without a closing sentence Whisper made up after the utterance.

        A final decode has no later decode to disagree with it, so the hallucination
        agreement keeps out of partials ("This" at p 0.01 after "thanks.") would go
        straight into the final. The tell is the same: the sentence opens on a word
        agreement doubts, right after a sentence of this utterance ended.
        """
        ends = [i for i, w in enumerate(fresh[:-1]) if w.ends_sentence]
        i = ends[-1] + 1 if ends else 0
        begin = self._endpoints[0][0] / SAMPLE_RATE
        before = fresh[:i] or [w for w in (*self._final_words, *self._open) if w.end > begin]
        if before and before[-1].ends_sentence and self._agreement.doubts(fresh[i]):
            return fresh[:i]
        return fresh

    def _on_final_result(self, request: AsrRequest, words: list[Word]) -> None:
        end = int(request.end_s * SAMPLE_RATE)
        fresh = self._agreement.new_part(words)
        if self.opts.final_cut_closing and fresh:
            fresh = self._cut_closing(fresh)
        if self._missed_speech(request, fresh, self._endpoints[0][0], final=True):
            self._alone = True  # decode it again, alone (the endpoint stays)
        elif not fresh and self._tail and (self._alone or not words):
            # Heard by the partials (shown to the user), by no final decode: keep
            # the last hypothesis rather than silently drop what was on screen. Only
            # when this decode was deaf (no words, or alone and still nothing): one
            # that heard the utterance and nothing more overrules a hallucinated tail.
            self._finish_endpoint(end, self._tail)
        else:
            self._finish_endpoint(end, fresh)

    def events(self) -> list[PolicyEvent]:
        out, self._events = self._events, []
        return out

    # -- internals ---------------------------------------------------------

    def _request(self, end: int, *, final: bool, start: int | None = None) -> AsrRequest:
        """A decode of the buffer up to `end`; from `start` (no context, no prompt) if given."""
        alone = start is not None
        start = self._buf_start if start is None else max(start, self._buf_start)
        audio = self._buf[start - self._buf_start : end - self._buf_start].copy()
        # Every window opens with `pre_roll_s` before speech, but the stream's first has
        # none to take: lend it silence. Whisper in a window shorter than 30 s drops a
        # first word spoken at the window's very start (tiny.en, the test stream's "And",
        # until ~5 s of audio; kept with >= 0.3 s of silence before it).
        lead = max(0, int(self.opts.pre_roll_s * SAMPLE_RATE) - start)
        if lead:
            audio = np.concatenate([np.zeros(lead, dtype=np.float32), audio])
        req = AsrRequest(
            id=self._next_id,
            audio=audio,
            start_s=(start - lead) / SAMPLE_RATE,
            end_s=end / SAMPLE_RATE,
            prompt="" if alone or (final and not self.opts.prompt_finals) else self._prompt(),
            language=self.language,
            final=final,
        )
        self._next_id += 1
        self._inflight = req
        return req

    def _prompt(self) -> str:
        """Committed text spoken before the window (the window's own words are heard)."""
        if self.opts.prompt_chars <= 0:
            return ""  # (a [-0:] slice would be the whole text)
        edge = self._buf_start / SAMPLE_RATE
        before = [w for w in (*self._final_words, *self._open) if w.end <= edge]
        return join_words(before)[-self.opts.prompt_chars :]

    def _on_vad_window(self, p: float) -> None:
        o = self.opts
        start, end = self._vad_pos, self._vad_pos + VAD_WINDOW
        self._vad_pos = end
        if p >= o.word_vad_threshold:
            _add_span(self._heard, start, end)
        if not self._in_utt:
            self._onset_run = self._onset_run + 1 if p >= o.vad_threshold else 0
            self._idle_run = 0 if p >= o.vad_off_threshold else self._idle_run + 1
            if self._idle_run * VAD_WINDOW >= _VAD_RESET_S * SAMPLE_RATE:
                self._vad.reset_state()  # a long silence: start the VAD afresh
                self._idle_run = 0
            if self._onset_run * VAD_WINDOW >= o.speech_onset_s * SAMPLE_RATE:
                onset = end - self._onset_run * VAD_WINDOW
                self._in_utt = True
                self._silence_run = 0
                self._utt_start = max(self._buf_start, onset - int(o.pre_roll_s * SAMPLE_RATE))
                self._utt_speech = 0
                self._add_speech(onset, end)
                if self._inflight is None and not self._endpoints:
                    self._trim_to(self._utt_start)
                    self._last_decode_end = self._utt_start
            return
        if o.max_utterance_s is not None and self._utterance_too_long(end, p):
            self._split_utterance(end)
        if p >= o.vad_off_threshold:
            self._silence_run = 0
            self._add_speech(start, end)
        else:
            self._silence_run += 1
            if self._silence_run * VAD_WINDOW >= o.endpoint_silence_s * SAMPLE_RATE:
                # Decode up to the last weak activity (soft last words live there),
                # not through the whole silence (Whisper fills silence with "Okay.").
                end = self._heard[-1][1] if self._heard else self._pos
                self._end_utterance(min(self._pos, end + int(o.post_roll_s * SAMPLE_RATE)), "endpoint")

    def _utterance_too_long(self, end: int, p: float) -> bool:
        o = self.opts
        assert o.max_utterance_s is not None
        length = (end - self._utt_start) / SAMPLE_RATE
        if length < o.max_utterance_s:
            return False
        return p < o.vad_threshold or length >= o.max_utterance_s + o.max_utterance_grace_s

    def _split_utterance(self, at: int) -> None:
        """End the open utterance at `at` (max_length) and go on with a new one from there:
        the speaker has not paused, so the VAD keeps its state and no pre-roll is added."""
        self._endpoints.append((self._utt_start, max(at, self._buf_start), "max_length"))
        self._utt_start = at
        self._utt_speech = 0
        self._silence_run = 0

    def _add_speech(self, start: int, end: int) -> None:
        self._utt_speech += end - start
        _add_span(self._speech, start, end)

    def _speech_in(self, start: int, end: int) -> int:
        return _overlap(self._speech, start, end)

    def _has_speech_near(self, w: Word) -> bool:
        m = self.opts.word_speech_margin_s
        lo, hi = int((w.start - m) * SAMPLE_RATE), int((w.end + m) * SAMPLE_RATE)
        return _overlap(self._heard, lo, hi) > 0

    def _end_utterance(self, end: int, reason: FinalReason) -> None:
        if self._in_utt:
            self._in_utt = False
            self._onset_run = 0
            self._idle_run = 0
            self._vad.reset_state()
            self._endpoints.append((self._utt_start, max(end, self._buf_start), reason))
        elif reason == "stop" and (self._open or self._tail) and not self._endpoints:
            self._endpoints.append((self._buf_start, self._pos, reason))

    def _finish_endpoint(self, end: int, fresh: list[Word]) -> None:
        """Finalize the first endpoint with `fresh`: words after what is committed."""
        _, _, reason = self._endpoints.popleft()
        self._alone = False
        self._agreement.commit(fresh)
        self._agreement.reset_history()
        self._open.extend(fresh)
        self._tail = []
        self._finalize(len(self._open), reason)
        self._last_partial = None
        self._trim_to(end)
        if self._in_utt:
            self._trim_to(self._utt_start)
        self._last_decode_end = self._buf_start

    def _finalize_ready(self) -> None:
        o = self.opts
        if o.sentence_finals:
            last = max((i for i, w in enumerate(self._open) if w.ends_sentence), default=-1)
            if last >= 0:
                self._finalize(last + 1, "sentence")
        if self._open and self._open[-1].end - self._open[0].start >= o.max_segment_s:
            self._finalize(len(self._open), "max_length")

    def _finalize(self, count: int, reason: FinalReason) -> None:
        words, self._open = tuple(self._open[:count]), self._open[count:]
        if not words:
            return
        text = join_words(words)
        self._events.append(
            Final(
                segment=self._segment,
                words=words,
                text=text,
                start=words[0].start,
                end=words[-1].end,
                reason=reason,
                language=self.language,
            )
        )
        self._segment += 1
        self._final_words.extend(words)
        # Finalized audio is only decoded again as context.
        self._trim_to(min(int(words[-1].end * SAMPLE_RATE), self._pos))

    def _trim_long_buffer(self) -> None:
        o = self.opts
        if self._pos - self._buf_start <= o.max_buffer_s * SAMPLE_RATE:
            return
        cut = int(self._agreement.last_committed_end * SAMPLE_RATE)
        if cut <= self._buf_start and self._tail:
            # No agreement for a whole buffer: commit what is well behind the edge.
            edge = self._pos / SAMPLE_RATE - o.max_buffer_s / 2
            forced = [w for w in self._tail if w.end <= edge]
            if forced:
                self._agreement.commit(forced)
                self._agreement.reset_history()
                self._open.extend(forced)
                self._tail = self._tail[len(forced) :]
                cut = int(forced[-1].end * SAMPLE_RATE)
        self._trim_to(cut)

    def _trim_to(self, sample: int) -> None:
        """Everything before `sample` is settled: drop it, except the context."""
        o = self.opts
        context = int(min(o.context_s, o.max_buffer_s / 3) * SAMPLE_RATE)
        sample = min(sample, self._pos)
        # Cut the context at a word start, so the window never opens mid-word.
        starts = [
            int(w.start * SAMPLE_RATE)
            for w in (*self._final_words, *self._open)
            if sample - context <= w.start * SAMPLE_RATE <= sample
        ]
        sample = min(starts) if starts else sample - context
        if sample <= self._buf_start:
            return
        self._buf = self._buf[sample - self._buf_start :]
        self._buf_start = sample
        for spans in (self._speech, self._heard):
            while spans and spans[0][1] <= sample - SAMPLE_RATE:
                spans.popleft()

    def _trim_idle(self) -> None:
        """Between utterances keep only the context (and the pre-roll within it)."""
        if self._in_utt or self._endpoints or self._inflight is not None:
            return
        self._trim_to(self._pos - int(self.opts.pre_roll_s * SAMPLE_RATE))
        self._last_decode_end = max(self._last_decode_end, self._buf_start)


    def _emit_partial(self) -> None:
        stable, unstable = join_words(self._open), join_words(self._tail)
        if (stable, unstable) == self._last_partial or not (stable or unstable):
            return
        self._last_partial = (stable, unstable)
        words = self._open + self._tail
        self._events.append(
            Partial(
                segment=self._segment,
                text=join_words(words),
                stable=stable,
                unstable=unstable,
                start=words[0].start,
                end=min(words[-1].end, self._last_decode_end / SAMPLE_RATE),
            )
        )


def _add_span(spans: deque[tuple[int, int]], start: int, end: int) -> None:
    if spans and spans[-1][1] >= start:
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))


def _overlap(spans: deque[tuple[int, int]], start: int, end: int) -> int:
    return sum(max(0, min(e, end) - max(s, start)) for s, e in spans)
