"""Incremental translation of one (session, target language) stream: a sans-I/O core.

No asyncio, no model, no clock of its own: the caller feeds transcript events
with the current time, asks for the next request to send, and hands back
results; the core answers with translation events. The async session layer
drives it like this:

    events = stream.on_final(seg, text, end_of_sentence, now) / stream.on_partial(text, now)
    while (req := stream.next_request(now)) is not None:
        send req to the scheduler with priority req.priority
    ... on completion: events = stream.on_result(req, result, now)
    ... on Dropped / ModelError: events = stream.on_failed(req, now)
    ... wake up again at stream.next_deadline(now) to issue a rate-limited partial

Invariants:
- The *current sentence* is the finals since the last sentence end; partial
  translations cover it plus the unstable tail (`on_partial`).
- Every non-blank completed sentence gets exactly one final translation, never
  dropped, and final events come out in sentence order (a reorder buffer
  holds results that come back early). A final that fails (`on_failed`) is
  skipped so the ones after it are not held back forever.
- A final is translated afresh, with no target prefix, by its own request;
  except when the last partial already was that: a transcript that ends with a
  sentence terminator is translated as its final would be (no prefix), and a
  final with exactly that text takes the partial's result (at once, or when the
  partial in flight comes back; if that partial is dropped, the final is sent
  on its own). This saves the final's model call and its wait behind the partial.
- At most one partial request is in flight; partials are issued at most once
  per `partial_interval_s` and only when the source text changed. A partial
  result for a sentence that has ended since is stale and discarded.
- A final text replaces the tail it commits: `on_final` clears the tail and the
  recognizer sends the new one with its next `on_partial`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from server.mt.requests import TranslationRequest, TranslationResult
from server.mt.sentences import ends_sentence, join_text, uses_spaces

Priority = Literal["final", "partial"]


@dataclass(frozen=True)
class IncrementalOptions:
    #: Minimum time between two partial requests of one stream.
    partial_interval_s: float = 0.5
    #: Words of the previous partial translation NOT reused as target prefix
    #: (characters for targets written without spaces), so its tail can still change.
    prefix_backoff: int = 2
    #: Reuse the previous partial translation as target prefix (less flicker).
    reuse_prefix: bool = True
    #: Translate partial transcripts at all (False: finals only).
    partials: bool = True
    #: A sentence whose finals grow past this many characters without an end
    #: is ended here: bounds the cost of partial requests and of the final.
    max_sentence_chars: int = 400
    #: Translate a partial that ends a sentence afresh, and let a final with the same
    #: text take its result (see the module docstring).
    reuse_complete: bool = True


@dataclass(frozen=True, kw_only=True)
class StreamRequest(TranslationRequest):
    """A translation request that knows which sentence of the stream it is for."""

    final: bool
    sentence: int
    source_segments: tuple[int, ...] = field(default=())

    @property
    def priority(self) -> Priority:
        return "final" if self.final else "partial"


@dataclass(frozen=True)
class TranslationEvent:
    """A translation to publish: partial (may still change) or final for `sentence`.

    `stable`: the prefix of `text` the next partial keeps while the transcript only
    grows (the target prefix it is forced to start with); all of it for a final.
    The final, translated afresh, may still revise it.
    """

    final: bool
    sentence: int
    text: str
    source_segments: tuple[int, ...]
    source_text: str
    stable: str = ""


class IncrementalTranslator:
    """Turns a stream of transcript finals / partials into translation requests and events."""

    def __init__(self, source: str, target: str, options: IncrementalOptions | None = None) -> None:
        self.source = source
        self.target = target
        self.options = options or IncrementalOptions()
        self._closed = False
        # The open sentence.
        self._sentence = 0
        self._segments: list[tuple[int, str]] = []
        self._tail = ""
        # Finals: ready to issue, in flight, done but waiting for an earlier one.
        self._finals_ready: deque[StreamRequest] = deque()
        self._finals_in_flight: dict[int, StreamRequest] = {}
        self._finals_done: dict[int, TranslationEvent | None] = {}
        self._next_final = 0  # the sentence whose final event is due next
        # Partials of the open sentence.
        self._partial_in_flight: StreamRequest | None = None
        self._last_partial_at: float | None = None
        self._last_partial_source: str | None = None  # last issued
        self._last_partial: tuple[str, str] | None = None  # (source, translation) last received
        self._last_partial_emitted: str | None = None
        #: The open sentence's last partial translated afresh: (source, translation).
        self._fresh: tuple[str, str] | None = None
        #: finals that take the result of the partial in flight (that partial -> final)
        self._riding: dict[int, StreamRequest] = {}

    # -- input -----------------------------------------------------------------------
    def on_final(
        self, segment: int, text: str, end_of_sentence: bool, now: float
    ) -> list[TranslationEvent]:
        """A final transcript segment (possibly a fragment of a sentence). Returns the
        events to publish now: a final that took a partial's result (see above)."""
        self._check_open()
        if text.strip():
            self._segments.append((segment, text))
        self._tail = ""
        if end_of_sentence or len(self._sentence_text()) > self.options.max_sentence_chars:
            return self._end_sentence()
        return []

    def on_partial(self, text: str, now: float) -> None:
        """The current unstable tail after the finals (replaces the previous tail)."""
        self._check_open()
        self._tail = text

    def flush(self, now: float) -> list[TranslationEvent]:
        """End the current sentence now (its finals get a final translation; the tail is
        dropped). Returns events to publish now, as `on_final`."""
        if self._closed:
            return []
        self._tail = ""
        return self._end_sentence()

    def close(self, now: float) -> list[TranslationEvent]:
        """End of stream: flush, then issue no more partials; pending finals still go out."""
        events = self.flush(now)
        self._closed = True
        return events

    # -- output ------------------------------------------------------------------------
    def next_request(self, now: float) -> StreamRequest | None:
        """The next request to send, or None. Call until None after every input."""
        if self._finals_ready:
            req = self._finals_ready.popleft()
            self._finals_in_flight[req.sentence] = req
            return req
        if self._closed or not self.options.partials or self._partial_in_flight is not None:
            return None
        source = self._current_source()
        if not source or source == self._last_partial_source:
            return None
        if (
            self._last_partial_at is not None
            # the same sum as `next_deadline`: at its deadline a request is due, exactly
            and now < self._last_partial_at + self.options.partial_interval_s
        ):
            return None
        fresh = self.options.reuse_complete and ends_sentence(source)
        req = StreamRequest(
            text=source,
            source=self.source,
            target=self.target,
            target_prefix=None if fresh else self._prefix_for(source),
            final=False,
            sentence=self._sentence,
            source_segments=tuple(seg for seg, _ in self._segments),
        )
        self._partial_in_flight = req
        self._last_partial_at = now
        self._last_partial_source = source
        return req

    def next_deadline(self, now: float) -> float | None:
        """When `next_request` may next return something without new input (None: not before
        new input or a result). Lets the caller sleep until a rate-limited partial is due."""
        if self._finals_ready:
            return now
        if self._closed or not self.options.partials or self._partial_in_flight is not None:
            return None
        source = self._current_source()
        if not source or source == self._last_partial_source:
            return None
        if self._last_partial_at is None:
            return now
        return max(now, self._last_partial_at + self.options.partial_interval_s)

    def on_result(
        self, request: StreamRequest, result: TranslationResult, now: float
    ) -> list[TranslationEvent]:
        """A request's translation came back; returns the events to publish (maybe none)."""
        if request.final:
            if self._finals_in_flight.get(request.sentence) is not request:
                return []  # not ours, or answered twice
            del self._finals_in_flight[request.sentence]
            self._finals_done[request.sentence] = TranslationEvent(
                final=True,
                sentence=request.sentence,
                text=result.text,
                source_segments=request.source_segments,
                source_text=request.text,
                stable=result.text,
            )
            return self._release_finals()
        if request is not self._partial_in_flight:
            return []
        self._partial_in_flight = None
        riding = self._riding.pop(id(request), None)
        if riding is not None:  # the sentence ended with this very text: its final
            return self.on_result(riding, result, now)
        if self._closed or request.sentence != self._sentence:
            return []  # stale: that sentence has ended (its final is on the way)
        self._last_partial = (request.text, result.text)
        if request.target_prefix is None:
            self._fresh = (request.text, result.text)
        if result.text == self._last_partial_emitted:
            return []
        self._last_partial_emitted = result.text
        return [
            TranslationEvent(
                final=False,
                sentence=request.sentence,
                text=result.text,
                source_segments=request.source_segments,
                source_text=request.text,
                stable=self._kept(result.text) if self.options.reuse_prefix else "",
            )
        ]

    def on_failed(self, request: StreamRequest, now: float) -> list[TranslationEvent]:
        """A request was dropped (overload) or failed (model error).

        A partial may be issued again later; a failed final is skipped (the caller
        reports the error) so the finals after it are released in order.
        """
        if request.final:
            if self._finals_in_flight.get(request.sentence) is not request:
                return []
            del self._finals_in_flight[request.sentence]
            self._finals_done[request.sentence] = None
            return self._release_finals()
        if request is self._partial_in_flight:
            self._partial_in_flight = None
            riding = self._riding.pop(id(request), None)
            if riding is not None:  # the final goes on its own after all
                del self._finals_in_flight[riding.sentence]
                self._finals_ready.append(riding)
            elif request.sentence == self._sentence:
                self._last_partial_source = None  # allow the same source again
        return []

    # -- state -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def sentence(self) -> int:
        """Index of the open sentence (= number of sentences ended so far)."""
        return self._sentence

    @property
    def pending_finals(self) -> int:
        """Finals not yet published: ready, in flight, or waiting in the reorder buffer."""
        return len(self._finals_ready) + len(self._finals_in_flight) + len(self._finals_done)

    @property
    def idle(self) -> bool:
        """Nothing to send and nothing in flight."""
        return self.pending_finals == 0 and self._partial_in_flight is None

    @property
    def done(self) -> bool:
        """Closed and every final has been published."""
        return self._closed and self.idle

    # -- internals ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("incremental translator is closed")

    def _sentence_text(self) -> str:
        return join_text([text for _, text in self._segments], self.source)

    def _current_source(self) -> str:
        return join_text([*(text for _, text in self._segments), self._tail], self.source)

    def _end_sentence(self) -> list[TranslationEvent]:
        text = self._sentence_text()
        events: list[TranslationEvent] = []
        if text:
            final = StreamRequest(
                text=text,
                source=self.source,
                target=self.target,
                final=True,
                sentence=self._sentence,
                source_segments=tuple(seg for seg, _ in self._segments),
            )
            partial = self._partial_in_flight if self.options.reuse_complete else None
            fresh = self._fresh if self.options.reuse_complete else None
            if fresh is not None and fresh[0] == text:
                # Already translated afresh: the final is that translation.
                self._finals_in_flight[final.sentence] = final
                events = self.on_result(final, TranslationResult(fresh[1], 0), 0.0)
            elif (partial is not None and partial.target_prefix is None
                  and partial.sentence == self._sentence and partial.text == text):
                self._finals_in_flight[final.sentence] = final
                self._riding[id(partial)] = final
            else:
                self._finals_ready.append(final)
            self._sentence += 1
        # A blank sentence keeps its number: nothing was translated for it.
        self._segments = []
        self._tail = ""
        self._last_partial_source = None
        self._last_partial = None
        self._last_partial_emitted = None
        self._fresh = None
        return events

    def _release_finals(self) -> list[TranslationEvent]:
        events: list[TranslationEvent] = []
        while self._next_final in self._finals_done:
            event = self._finals_done.pop(self._next_final)
            self._next_final += 1
            if event is not None:
                events.append(event)
        return events

    def _prefix_for(self, source: str) -> str | None:
        """The previous partial translation minus its last words, if `source` extends its source."""
        if not self.options.reuse_prefix or self._last_partial is None:
            return None
        prev_source, prev_translation = self._last_partial
        if not prev_translation or not source.startswith(prev_source) or source == prev_source:
            return None
        return self._kept(prev_translation) or None

    def _kept(self, translation: str) -> str:
        """What a partial translation keeps as the next one's prefix: all but its last
        `prefix_backoff` words (characters for targets written without spaces)."""
        backoff = self.options.prefix_backoff
        if uses_spaces(self.target):
            words = translation.split()
            return " ".join(words[: max(0, len(words) - backoff)])
        chars = translation.strip()
        return chars[: max(0, len(chars) - backoff)]
