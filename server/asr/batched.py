"""Batched speech recognition: one CTranslate2 call chain for the requests of many sessions.

`WhisperEngine.transcribe` runs faster-whisper's full pipeline per request: a 30 s encoder
window even for 2 s of audio, one request after another. `BatchedWhisperEngine` decodes a
batch of requests together:

1. log-mel features per request, zero-padded to a SHORT window: the smallest bucket that
   holds the request's audio plus a margin (`features.choose_window_s`); requests that
   share a bucket share the calls below (`shared_window=True`: one window for all, the
   longest audio's). A call the scheduler marks CROWDED (other decodes share the CPU)
   picks from cheaper buckets: one session alone is heard best, many keep real time;
2. `encode` in chunks of `encode_batch` rows (large encoder batches are slower per row on
   CPU), the outputs joined;
3. `detect_language` once, only if a multilingual request has no language;
4. `generate` for the whole bucket with per-request prompts (previous text + start of
   transcript), with timestamp tokens: a beam of `beam_size` for a call alone, of
   `crowded_beam_size` (1, greedy, by default) for a crowded one. CTranslate2 requires
   <|startoftranscript|> at one index in every prompt of a call, so prompts are grouped by
   length (`prompts.py`);
5. guards (`guards.py`): Whisper's silence rule, a token budget per second of audio, repetition
   (compression ratio, repeated token blocks, repeated segments), segments and words
   after the end of the audio. A short-window decode that looks like a hallucination loop
   is decoded again on Whisper's native 30 s window (short windows make Whisper repeat
   itself; measured on tiny.en/base, real speech), or (`retry_partials=False`, for a
   partial request) cut where the loop starts;
6. `align` (cross-attention DTW) once per window and language for word timestamps, with
   faster-whisper's own word splitting and timing clean-up, per request.

Like `WhisperEngine`, up to `AsrOptions.workers` threads may call it at once: the model
calls go to CTranslate2's replicas, the per-call state lives in the call's own jobs, and
the shared counters take a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.asr.features import (
    MAX_WINDOW_S,
    MelExtractor,
    choose_window_s,
    content_frames,
    full_buckets,
    seconds,
    stack_window,
    token_budget,
    window_frames,
)
from server.asr.guards import (
    Segment,
    avg_logprob,
    check_segments,
    clip_words,
    compression_ratio,
    cut_segments,
    find_loop,
    is_silence,
    phrase_repeat_at,
    segment_tokens,
    split_segments,
    tokens_before_word,
)
from server.asr.prompts import (
    WHISPER_MAX_LENGTH,
    PromptFit,
    build_prompt,
    generation_max_length,
    group_by_prompt,
)
from server.asr.whisper import AsrOptions, Decode, Task, WhisperEngine, available_cores
from server.errors import UnsupportedError
from server.models.types import AsrModelInfo
from server.streaming.events import AsrRequest, AsrResult
from server.streaming.words import Word

log = logging.getLogger(__name__)


_MAX_INITIAL_TIMESTAMP_INDEX = 50  # faster-whisper's default max_initial_timestamp=1.0 s
_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class BatchOptions:
    #: Encoder windows to pick from, in seconds; 30 s (Whisper's native window, used for
    #: retries and for audio that fits no shorter bucket) is always added. Whisper hears
    #: short, silence-padded windows less well: over the replay layouts 10/15/20/30 made
    #: 1.17x (tiny.en) and 1.38x (base) offline's errors where 20/30 made 1.11x and 1.05x.
    window_buckets_s: tuple[float, ...] = (20.0, 30.0)
    #: ...the windows of a CROWDED call (other decodes running or waiting: the scheduler
    #: says so), cheaper per decode: on 2 cores base holds 2 real-time streams under the
    #: SLO with these and 1 with 20/30. None: `window_buckets_s` always.
    crowded_window_buckets_s: tuple[float, ...] | None = (10.0, 15.0, 20.0, 30.0)
    #: ...and of every call when this machine encodes the shortest `window_buckets_s`
    #: window slower than this (best of 5 at `warm_up`, from CPU time so that other
    #: processes busy at start-up do not count: `uncontended_s`; None: no test). The longer
    #: windows cost a slow model its tail: on these 2 cores base (20 s: 0.18-0.20 s)
    #: with 20/30 gave 1-stream p90 2.1-2.7 s against 1.6 s, while tiny.en (0.08-0.11 s)
    #: kept its latency targets. A faster machine gets the accurate windows for base too.
    alone_encode_budget_s: float | None = 0.14
    #: Beam width of a decode alone, and of a crowded one (when the crowded windows would
    #: be taken: other decodes share the CPU, or this machine is too slow for the long
    #: windows). Over the replay's nine layouts tiny.en streamed 448 errors with beam 3
    #: against 486 greedy (offline: 414 with beam 3, 434 greedy); crowded decodes stay
    #: greedy so that a beam does not cost the many-stream capacity. The long-form path keeps `AsrOptions.beam_size`.
    beam_size: int = 3
    crowded_beam_size: int = 1
    #: Silence the window must hold after the audio (shorter margins make Whisper loop).
    window_margin_s: float = 3.0
    #: Most requests per batch (the scheduler's bound); larger lists are split.
    max_batch: int = 8
    #: Decode with timestamp tokens: segment boundaries let the guards drop text Whisper
    #: places after the end of the audio. Costs ~2 tokens per segment.
    timestamps: bool = True
    #: Previous-text tokens kept per prompt (the policy sends ~200 characters, ~45 tokens).
    max_prompt_tokens: int = 32
    prompt_fit: PromptFit = "group"
    #: Token budget per request: tokens_per_second * audio seconds + extra_tokens.
    tokens_per_second: float = 8.0
    extra_tokens: int = 10
    #: Decode a short-window result that looks like a hallucination loop again on 30 s.
    retry_on_full_window: bool = True
    #: ...for partial requests too. Off: a partial's loop is cut (or its repetitive text
    #: dropped) as on a final window, and only the utterance's final decode, whose words
    #: are all committed, pays for the 30 s retry. Partials are re-decoded within a
    #: fraction of a second anyway.
    retry_partials: bool = False
    #: One window for the whole batch (the longest audio's bucket) instead of one per
    #: request's own bucket. Per-request buckets pad less and make a request's result
    #: independent of its batch-mates.
    shared_window: bool = False
    #: Rows per `encode` call (the decoder still runs the whole batch at once).
    encode_batch: int = 4
    #: A block of tokens repeated back to back at least `loop_repeats` times and spanning
    #: at least `loop_min_tokens` tokens counts as a loop.
    loop_repeats: int = 3
    loop_min_tokens: int = 12
    #: A phrase of this many words said twice in a short window counts as a loop too
    #: (0: off). 3 rather than 4 catches base's "a harlan hour montreal forced aligner a
    #: harlan hour" (base WER 0.20 -> 0.17 on 24 clips, 1 more retry).
    repeat_phrase_words: int = 3
    #: ...when the second time starts at most this many words after the first (0: any
    #: distance). Whisper's doubles repeat at once ("a harlan hour montreal forced aligner
    #: a harlan hour": 6); read text repeats further apart ("he might have been made still
    #: more respectable than he was. He might even have been made amiable": 12), and on
    #: base a false alarm's 30 s retry costs about a second.
    repeat_phrase_span: int = 6
    #: Whisper's silence rule keeps text it is confident in even when it rates the window
    #: as no speech; on digital silence that is its classic " you". Such a window's words
    #: must also be this probable on average (real speech seen here: nsp <= 0.66).
    min_word_probability: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_buckets_s", full_buckets(self.window_buckets_s))
        if self.crowded_window_buckets_s is not None:
            crowded = full_buckets(self.crowded_window_buckets_s)
            object.__setattr__(self, "crowded_window_buckets_s", crowded)
        if not 0 <= self.window_margin_s < MAX_WINDOW_S:
            # At 30 s or more no request would fit a window: all would go the long way.
            raise ValueError(f"window_margin_s must be in [0, {MAX_WINDOW_S:g})")
        if self.beam_size < 1 or self.crowded_beam_size < 1:
            raise ValueError("beam_size and crowded_beam_size must be >= 1")
        if self.max_batch < 1 or self.encode_batch < 1:
            raise ValueError("max_batch and encode_batch must be >= 1")
        if not 0 <= self.max_prompt_tokens <= WHISPER_MAX_LENGTH // 2 - 1:
            raise ValueError(f"max_prompt_tokens must be in [0, {WHISPER_MAX_LENGTH // 2 - 1}]")
        if self.alone_encode_budget_s is not None and self.alone_encode_budget_s < 0:
            raise ValueError("alone_encode_budget_s must be >= 0")
        if self.tokens_per_second <= 0 or self.extra_tokens < 1:
            raise ValueError("the token budget must be positive")


# --------------------------------------------------------------------------- pure helpers


def uncontended_s(wall_s: float, cpu_s: float, threads: int) -> float:
    """How long a model call that took `wall_s` (and `cpu_s` of this process's CPU time,
    on `threads` threads) takes on a machine nobody else is using.

    Other processes stretch the wall time, not the CPU time: on these 2 cores tiny.en's
    20 s encode took 0.077 s (CPU 0.146 s) idle and 0.149 s (CPU 0.148 s) beside a
    benchmark; base 0.171 (0.322) and 0.333 (0.320). CPU time over the threads is the
    idle wall time; the wall time is the bound when the call did not spread evenly.
    """
    return min(wall_s, cpu_s / max(1, threads))


# --------------------------------------------------------------------------- the engine


@dataclass
class _Job:
    """One request on its way through a batch."""

    index: int  # position in the caller's list
    request: AsrRequest
    audio_s: float
    frames: int  # content mel frames
    features: np.ndarray
    language: str | None  # None: detect
    language_probability: float = 1.0
    tokenizer: Any = None


@dataclass
class _Hypothesis:
    job: _Job
    segments: list[Segment]
    suspect: bool  # looks like a hallucination loop: worth a full-window retry
    no_speech_prob: float
    final: bool  # no retry follows: the guards have already cut or dropped a loop


class BatchedWhisperEngine(WhisperEngine):
    """A `WhisperEngine` that decodes many sessions' requests in one model call chain.

    `transcribe(request)` (the WhisperEngine API) is a batch of one; audio longer than
    30 s goes to faster-whisper's long-form path (`WhisperEngine.transcribe`).
    """

    def __init__(
        self,
        info: AsrModelInfo,
        options: AsrOptions | None = None,
        batch: BatchOptions | None = None,
    ) -> None:
        super().__init__(info, options)
        self.batch_opts = batch or BatchOptions()
        #: Calls alone use `window_buckets_s` (warm_up may decide this machine is too slow).
        self.alone_windows = True
        self._mel = MelExtractor(self._model.feature_extractor)
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # guards `stats` and `_tokenizers` across workers
        #: Counters for metrics and benchmarks (monotonic).
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "crowded", "encodes", "generates", "retries", "silent"), 0
        )

    # ------------------------------------------------------------------ public API

    def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Decode:
        return self.transcribe_batch([request], task)[0]

    def transcribe_batch(
        self,
        requests: Sequence[AsrRequest],
        task: Task = "transcribe",
        *,
        word_timestamps: bool = True,
        crowded: bool = False,
    ) -> list[Decode]:
        """Decode `requests` together; results in the same order. `asr_s` of every Decode
        is the wall time of the whole batch. `crowded`: other decodes share the CPU now,
        so pick windows from `crowded_window_buckets_s`."""
        t0 = time.perf_counter()
        results: list[AsrResult | None] = [None] * len(requests)
        jobs: list[_Job] = []
        for i, req in enumerate(requests):
            audio_s = seconds(len(req.audio))
            if audio_s + self.batch_opts.window_margin_s > MAX_WINDOW_S:
                # No room for the margin even on the native window: Whisper may stop at a
                # timestamp before the audio's end (28.7 s of read speech: nothing after
                # 24.9 s). faster-whisper's long-form path seeks there and decodes on.
                results[i] = super().transcribe(req, task).result
                continue
            jobs.append(self._job(i, req, audio_s))
        size = self.batch_opts.max_batch
        for k in range(0, len(jobs), size):
            for job, result in self._run(jobs[k : k + size], task, word_timestamps, crowded):
                results[job.index] = result
        elapsed = time.perf_counter() - t0
        self._count("requests", len(requests))
        if crowded and self.batch_opts.crowded_window_buckets_s is not None:
            self._count("crowded", len(requests))  # decoded on the crowded windows
        out: list[Decode] = []
        for r in results:
            assert r is not None
            out.append(Decode(result=r, asr_s=elapsed))
        return out

    def warm_up(self) -> None:
        """One decode, so the first request does not pay start-up costs; then the
        encoder timing that decides whether calls alone get `window_buckets_s`."""
        silence = np.zeros(16000, dtype=np.float32)
        request = AsrRequest(0, silence, 0.0, 1.0, "", "en", True)
        self.transcribe_batch([request])
        opts = self.batch_opts
        if opts.alone_encode_budget_s is None or opts.crowded_window_buckets_s is None:
            return
        window = opts.window_buckets_s[0]
        job = self._job(0, request, 1.0)
        threads = min(self.opts.cpu_threads, available_cores())  # uncontended_s keeps it >= 1
        best = float("inf")
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            self._encode([job], window)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best = min(best, uncontended_s(wall, cpu, threads))
        self.alone_windows = best <= opts.alone_encode_budget_s
        log.info(
            "a %g s window encodes in %.3f s uncontended (budget %.3f s): a decode alone takes %s windows",
            window, best, opts.alone_encode_budget_s,
            "the accurate" if self.alone_windows else "the crowded",
        )

    # ------------------------------------------------------------------ one batch

    def _job(self, index: int, req: AsrRequest, audio_s: float) -> _Job:
        language: str | None = req.language
        if not self.info.multilingual:
            language = "en"
        audio = np.asarray(req.audio, dtype=np.float32)
        return _Job(
            index=index,
            request=req,
            audio_s=audio_s,
            frames=content_frames(len(audio)),
            features=self._mel(audio),
            language=language,
        )

    def _run(
        self, jobs: list[_Job], task: Task, word_timestamps: bool, crowded: bool
    ) -> list[tuple[_Job, AsrResult]]:
        items: list[tuple[_Hypothesis, Any, int]] = []
        suspects: list[_Job] = []
        beam = self.beam(crowded)
        for window, group in self._windows(jobs, crowded):
            hyps, encoded = self._decode(group, window, task, beam)
            for row, h in enumerate(hyps):
                if h.suspect and not h.final:
                    suspects.append(h.job)
                else:
                    items.append((h, encoded, row))
        if suspects:
            # Short windows make Whisper repeat itself: decode these on its native window.
            self._count("retries", len(suspects))
            log.debug("re-decoding %d of %d requests on 30 s", len(suspects), len(jobs))
            again, encoded = self._decode(suspects, MAX_WINDOW_S, task, beam)
            items += [(h, encoded, row) for row, h in enumerate(again)]
        return self._results(items, task, word_timestamps)

    def buckets(self, crowded: bool) -> tuple[float, ...]:
        """The encoder windows a crowded call, or a call alone, picks from."""
        opts = self.batch_opts
        if self._cheap(crowded) and opts.crowded_window_buckets_s is not None:
            return opts.crowded_window_buckets_s
        return opts.window_buckets_s

    def beam(self, crowded: bool) -> int:
        """The beam width of a crowded call, or of a call alone."""
        opts = self.batch_opts
        return opts.crowded_beam_size if self._cheap(crowded) else opts.beam_size

    def _cheap(self, crowded: bool) -> bool:
        # A lone call on a machine too slow for the long windows is served as if crowded.
        return crowded or not self.alone_windows

    def _windows(self, jobs: list[_Job], crowded: bool) -> list[tuple[float, list[_Job]]]:
        """The encoder window for every job: its own bucket, or (shared_window) the bucket of
        the longest audio for all."""
        opts = self.batch_opts
        buckets = self.buckets(crowded)

        def bucket(audio_s: float) -> float:
            window = choose_window_s(audio_s, buckets, opts.window_margin_s)
            # Every bucket list ends with 30 s, and audio with no room for the margin
            # there took the long-form path (`transcribe_batch`): one always fits.
            assert window is not None, (audio_s, buckets)
            return window

        if opts.shared_window:
            return [(bucket(max(j.audio_s for j in jobs)), jobs)]
        groups: dict[float, list[_Job]] = {}
        for j in jobs:
            groups.setdefault(bucket(j.audio_s), []).append(j)
        return sorted(groups.items())

    def _tokenizer(self, language: str, task: Task) -> Any:
        from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer

        key = (language, task)
        with self._lock:
            tok = self._tokenizers.get(key)
            if tok is None:
                if self.info.multilingual and language not in _LANGUAGE_CODES:
                    raise UnsupportedError(f"Whisper does not know the language {language!r}")
                tok = Tokenizer(
                    self._model.hf_tokenizer, self.info.multilingual, task=task, language=language
                )
                self._tokenizers[key] = tok
        return tok

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self.stats[name] += n

    def _decode(
        self, jobs: list[_Job], window_s: float, task: Task, beam: int
    ) -> tuple[list[_Hypothesis], Any]:
        import ctranslate2
        from faster_whisper.transcribe import get_suppressed_tokens

        opts = self.batch_opts
        ct2 = self._model.model
        encoded = self._encode(jobs, window_s)

        undetected = [pos for pos, j in enumerate(jobs) if j.language is None]
        if undetected:
            detected = ct2.detect_language(encoded)
            for pos in undetected:
                token, prob = detected[pos][0]
                jobs[pos].language = str(token)[2:-2]
                jobs[pos].language_probability = float(prob)

        previous: list[list[int]] = []
        for j in jobs:
            assert j.language is not None
            j.tokenizer = self._tokenizer(j.language, task)
            prev = (
                j.tokenizer.encode(" " + j.request.prompt.strip())
                if j.request.prompt.strip()
                else []
            )
            previous.append(prev[-opts.max_prompt_tokens :] if opts.max_prompt_tokens else [])

        budgets = [
            token_budget(
                j.audio_s, opts.tokens_per_second, opts.extra_tokens, WHISPER_MAX_LENGTH // 2
            )
            for j in jobs
        ]
        hyps: list[_Hypothesis | None] = [None] * len(jobs)
        groups = group_by_prompt(previous, opts.prompt_fit)
        for indices, prevs in groups:
            prompts = [
                build_prompt(
                    p,
                    sot_prev=jobs[i].tokenizer.sot_prev,
                    sot_sequence=jobs[i].tokenizer.sot_sequence,
                    no_timestamps=None if opts.timestamps else jobs[i].tokenizer.no_timestamps,
                )
                for i, p in zip(indices, prevs)
            ]
            if len(groups) == 1:
                features = encoded
            else:
                # A CPU StorageView exposes the array interface: copy the rows out.
                rows = np.ascontiguousarray(np.asarray(encoded)[indices])
                features = ctranslate2.StorageView.from_array(rows)
            budget = max(budgets[i] for i in indices)
            tok0 = jobs[indices[0]].tokenizer
            self._count("generates", 1)
            results = ct2.generate(
                features,
                prompts,
                beam_size=beam,
                # One token over the budget tells "stopped by the budget" from "ended".
                max_length=generation_max_length(budget + 1, len(prompts[0])),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=list(get_suppressed_tokens(tok0, [-1])),
                max_initial_timestamp_index=_MAX_INITIAL_TIMESTAMP_INDEX,
            )
            for i, res in zip(indices, results):
                hyps[i] = self._hypothesis(jobs[i], res, budgets[i], window_s=window_s)
        out = [h for h in hyps if h is not None]
        assert len(out) == len(jobs)
        return out, encoded

    def _encode(self, jobs: list[_Job], window_s: float) -> Any:
        """Encoder output for `jobs` on one window, in chunks of `encode_batch` rows.

        On CPU the encoder gains nothing from large batches (its attention matrices leave
        the cache: tiny.en, 10 s window: 85 ms/request at batch 1-4, 126 at 8, 162 at 16),
        while the decoder does (88 -> 41 ms/request from batch 1 to 8); so encode in small
        chunks and decode the whole batch at once.
        """
        import ctranslate2

        ct2 = self._model.model
        frames = window_frames(window_s)
        size = self.batch_opts.encode_batch
        parts: list[Any] = []
        for k in range(0, len(jobs), size):
            batch = stack_window([j.features for j in jobs[k : k + size]], frames)
            parts.append(ct2.encode(ctranslate2.StorageView.from_array(batch)))
            self._count("encodes", 1)
        if len(parts) == 1:
            return parts[0]
        rows = np.concatenate([np.asarray(p) for p in parts], axis=0)
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(rows))

    def _hypothesis(
        self, job: _Job, res: Any, budget: int, *, window_s: float
    ) -> _Hypothesis:
        opts = self.batch_opts
        # No retry follows on 30 s, with retries off, or (retry_partials off) for a partial.
        final = (
            window_s >= MAX_WINDOW_S
            or not opts.retry_on_full_window
            or not (opts.retry_partials or job.request.final)
        )
        tok = job.tokenizer
        tokens: list[int] = list(res.sequences_ids[0])
        over_budget = len(tokens) > budget  # generate() was allowed budget + 1
        tokens = tokens[:budget]
        logprob = avg_logprob(float(res.scores[0]), len(tokens))
        no_speech = float(res.no_speech_prob)
        if is_silence(no_speech, logprob, self.opts):
            self._count("silent", 1)
            return _Hypothesis(job, [], suspect=False, no_speech_prob=no_speech, final=final)
        segments = split_segments(
            tokens, timestamp_begin=tok.timestamp_begin, eot=tok.eot, audio_s=job.audio_s
        )
        check = check_segments(segments, job.audio_s, tok.decode)
        text_tokens = segment_tokens(check.kept)
        text = tok.decode(text_tokens).strip()
        loop_at = find_loop(
            text_tokens, min_repeats=opts.loop_repeats, min_tokens=opts.loop_min_tokens
        )
        too_repetitive = compression_ratio(text) > self.opts.compression_ratio_threshold
        doubled_at = phrase_repeat_at(text, opts.repeat_phrase_words, opts.repeat_phrase_span)
        doubled = doubled_at is not None
        suspect = (
            over_budget or loop_at is not None or too_repetitive or check.repeated > 0 or doubled
        )
        if suspect and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "suspect decode (window %.0f s, over budget %s, loop %s, ratio %s, "
                "phrase twice %s, repeated %d, after end %d)",
                window_s,
                over_budget,
                loop_at is not None,
                too_repetitive,
                doubled,
                check.repeated,
                check.after_end,
            )
        kept = check.kept
        if final:
            if loop_at is not None and (over_budget or window_s < MAX_WINDOW_S):
                # A runaway, or a short window with no retry: keep the text up to the loop.
                kept = cut_segments(kept, loop_at)
                text = tok.decode(segment_tokens(kept)).strip()
            if compression_ratio(text) > self.opts.compression_ratio_threshold:
                kept = []  # as WhisperEngine: a repetitive window is dropped
            elif doubled_at is not None and window_s < MAX_WINDOW_S and not job.request.final:
                # A partial's words are provisional: drop the second saying rather than
                # risk committing it. A final's may be real speech ("I think so, I think so").
                keep = tokens_before_word(segment_tokens(kept), doubled_at, tok.decode)
                kept = cut_segments(kept, keep)
        return _Hypothesis(job, kept, suspect=suspect, no_speech_prob=no_speech, final=final)

    # ------------------------------------------------------------------ words

    def _results(
        self, items: list[tuple[_Hypothesis, Any, int]], task: Task, word_timestamps: bool
    ) -> list[tuple[_Job, AsrResult]]:
        """Words for every hypothesis; `items` are (hypothesis, encoder output, its row)."""
        import ctranslate2

        words_of: dict[int, list[Word]] = {}
        align = word_timestamps and task == "transcribe"
        # One `align` call per (encoder output, language): it takes one start sequence.
        pending: dict[tuple[int, str], tuple[Any, list[tuple[_Hypothesis, int]]]] = {}
        for hyp, encoded, row in items:
            tok = hyp.job.tokenizer
            if not hyp.segments:
                words_of[hyp.job.index] = []
            elif not align:
                # Translation (or no word timing wanted): one Word per segment, as
                # WhisperEngine does when faster-whisper gives no word timestamps.
                texts = [(tok.decode(list(s.tokens)).strip(), s) for s in hyp.segments]
                words_of[hyp.job.index] = [Word(" " + t, s.start, s.end) for t, s in texts if t]
            else:
                key = (id(encoded), hyp.job.language or "")
                pending.setdefault(key, (encoded, []))[1].append((hyp, row))
        for encoded, group in pending.values():
            rows = [row for _, row in group]
            if rows == list(range(int(encoded.shape[0]))):
                features = encoded
            else:
                picked = np.ascontiguousarray(np.asarray(encoded)[rows])
                features = ctranslate2.StorageView.from_array(picked)
            hyps = [h for h, _ in group]
            for hyp, words in zip(hyps, self._word_timings(hyps, features)):
                words = clip_words(words, hyp.job.audio_s)
                if words and hyp.no_speech_prob > self.opts.no_speech_threshold:
                    mean = sum(w.probability for w in words) / len(words)
                    if mean < self.batch_opts.min_word_probability:
                        self._count("silent", 1)
                        words = []
                words_of[hyp.job.index] = words
        return [
            (
                hyp.job,
                AsrResult(
                    words=words_of[hyp.job.index],
                    language=hyp.job.language,
                    language_probability=hyp.job.language_probability,
                ),
            )
            for hyp, _, _ in items
        ]

    def _word_timings(self, hyps: list[_Hypothesis], encoded: Any) -> list[list[Word]]:
        """Cross-attention alignment for a batch that shares one tokenizer (language, task),
        then faster-whisper's per-request timing clean-up."""
        from faster_whisper.transcribe import WhisperModel

        tok = hyps[0].job.tokenizer
        text_tokens = [segment_tokens(h.segments) for h in hyps]
        alignments = self._model.find_alignment(
            tok, text_tokens, encoded, [h.job.frames for h in hyps]
        )
        out: list[list[Word]] = []
        for hyp, alignment in zip(hyps, alignments):
            segments: list[dict[str, Any]] = [
                {"seek": 0, "start": s.start, "end": s.end, "tokens": list(s.tokens)}
                for s in hyp.segments
            ]
            # faster-whisper's add_word_timestamps aligns and cleans up in one method; it is
            # given an object whose find_alignment returns this request's batched alignment,
            # so the clean-up (punctuation merging, long-word clamping) runs per request
            # exactly as in WhisperModel.transcribe.
            WhisperModel.add_word_timestamps(
                _Aligned(alignment, self._model.frames_per_second),
                [segments],
                tok,
                None,
                [hyp.job.frames],
                _PREPEND_PUNCTUATIONS,
                _APPEND_PUNCTUATIONS,
                0.0,
            )
            out.append(
                [
                    Word(w["word"], float(w["start"]), float(w["end"]), float(w["probability"]))
                    for seg in segments
                    for w in seg.get("words", [])
                ]
            )
        return out


class _Aligned:
    """Stands in for WhisperModel inside `add_word_timestamps` with a precomputed alignment."""

    def __init__(self, alignment: list[dict[str, Any]], frames_per_second: int) -> None:
        self._alignment = alignment
        self.frames_per_second = frames_per_second

    def find_alignment(self, *_args: Any, **_kwargs: Any) -> list[list[dict[str, Any]]]:
        return [self._alignment]
