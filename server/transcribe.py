"""Offline transcription of a whole file: the ceiling streaming is held against."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, assert_never

import numpy as np

from server.asr.scheduler import Engine
from server.asr.unheard import outside, speech_spans, unheard_spans
from server.asr.whisper import AsrOptions, Task, WhisperEngine
from server.audio.vad import SileroVadModel
from server.config import ServerConfig
from server.errors import AudioError, ModelError
from server.models.languages import check_source_language
from server.models.resolve import resolve_asr, resolve_mt
from server.models.types import AsrModelInfo, MtModelInfo
from server.mt.requests import TranslationRequest
from server.mt.routes import Direct, Pivot, Route, Transcript, WhisperTranslate, route_target
from server.mt.translator import Translator, TranslatorOptions
from server.protocol.messages import normalize_language
from server.streaming.events import AsrRequest
from server.streaming.words import Word, join_words

SAMPLE_RATE = 16000
#: Audio taken before and after an unheard stretch when it is decoded again: Whisper
#: drops a first word spoken at the very start of its window.
_REHEAR_PRE_S = 0.3
_REHEAR_POST_S = 0.2
#: 0.5 s of windows below this is a pause (the policy's `vad_off_threshold`).
_QUIET_WINDOWS = 16
_QUIET_P = 0.35

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfflineResult:
    text: str
    words: list[Word]
    language: str | None
    audio_s: float
    asr_s: float
    translation: str | None = None


def load_audio(path: Path) -> np.ndarray:
    """`path` decoded to 16 kHz mono float32; an `AudioError` that names the file otherwise."""
    if not path.is_file():
        raise AudioError(f"no such file: {path}")
    return decode_file(str(path), str(path))


def decode_file(source: str | BinaryIO, name: str) -> np.ndarray:
    """A file's audio (`source`: a path or an open binary file; `name` for the errors)
    decoded by FFmpeg to 16 kHz mono float32; an `AudioError` otherwise."""
    import av
    from faster_whisper.audio import decode_audio

    if not isinstance(source, str):
        source.seek(0)
    try:
        with av.open(source, mode="r") as container:
            has_audio = bool(container.streams.audio)
    except (av.FFmpegError, ValueError) as exc:
        raise AudioError(f"cannot decode {name}: not audio or video FFmpeg reads ({exc})") from exc
    if not has_audio:
        raise AudioError(f"cannot decode {name}: it holds no audio stream")
    if not isinstance(source, str):
        source.seek(0)
    try:
        audio = decode_audio(source, sampling_rate=SAMPLE_RATE)
    except Exception as exc:
        raise AudioError(f"cannot decode {name}: {exc}") from exc
    return np.asarray(audio, dtype=np.float32)


def transcribe_audio(
    engine: Engine,
    audio: np.ndarray,
    language: str | None = None,
    *,
    task: Task = "transcribe",
    rehear: bool = True,
    prompt: str = "",
) -> OfflineResult:
    """The whole of `audio` in faster-whisper's long-form decode, then (with `rehear`)
    every stretch of speech it left without words decoded again on its own.

    With `task="translate"` the words are Whisper's English, one per segment (the
    translate task has no word times), and the same stretches are heard again. `prompt`:
    text the first decode is conditioned on (Whisper's initial prompt).
    """
    req = AsrRequest(0, audio, 0.0, audio.size / SAMPLE_RATE, prompt, language, True)
    decode = engine.transcribe(req, task=task)
    words, asr_s = decode.result.words, decode.asr_s
    language = language or decode.result.language
    spans = unheard_spans(words, speech_spans(speech_probabilities(audio))) if rehear else []
    heard: list[Word] = []
    for start, end in spans:
        a = max(0, int((start - _REHEAR_PRE_S) * SAMPLE_RATE))
        b = min(audio.size, int((end + _REHEAR_POST_S) * SAMPLE_RATE))
        again = engine.transcribe(
            AsrRequest(0, audio[a:b], a / SAMPLE_RATE, b / SAMPLE_RATE, "", language, True),
            task=task,
        )
        heard += outside([w.shifted(a / SAMPLE_RATE) for w in again.result.words], words)
        asr_s += again.asr_s
    if spans:
        log.info("decoded again %d stretch(es) of speech the long-form decode left unheard "
                 "(%.1f s): %d words", len(spans), sum(e - s for s, e in spans), len(heard))
        words = sorted(words + heard, key=lambda w: w.start)
    return OfflineResult(
        text=join_words(words),
        words=words,
        language=decode.result.language,
        audio_s=audio.size / SAMPLE_RATE,
        asr_s=asr_s,
    )


def translation_models(specs: list[str] | None) -> list[MtModelInfo]:
    """The `--mt-model` models; by default the server's (zh-en) where cached: without
    them Whisper's translate task may still serve a target of English."""
    if specs:
        return [resolve_mt(spec) for spec in specs]
    models = []
    for spec in ServerConfig().mt_models:
        with contextlib.suppress(ModelError):
            models.append(resolve_mt(spec))
    return models


def translation_route(
    info: AsrModelInfo, models: list[MtModelInfo], source: str | None, target: str
) -> Route:
    """How `target` is made from `source`, as the server routes it (`route_target`: its
    errors too). With no source yet (to be detected) the route is provisional."""
    pairs: dict[tuple[str, str], str] = {}
    for model in models:
        for pair in model.pairs:
            pairs.setdefault(pair, model.name)
    return route_target(info, pairs, source, target)


def translate_offline(
    route: Route, engine: Engine, audio: np.ndarray, result: OfflineResult, source: str,
    models: list[MtModelInfo], compute_type: str,
) -> str | None:
    """The whole file's translation along `route` (a pivot: its English leg, then MT)."""
    def mt(leg: Direct, text: str) -> str:
        info = next(m for m in models if m.name == leg.model)
        translator = Translator(info, TranslatorOptions(compute_type=compute_type))
        return translator.translate_batch([TranslationRequest(text, leg.source, leg.target)])[0].text

    match route:
        case Transcript():
            return None
        case Direct():
            return mt(route, result.text)
        case WhisperTranslate():
            return transcribe_audio(engine, audio, source, task="translate").text
        case Pivot(first=first, second=second):
            english = translate_offline(first, engine, audio, result, source, models, compute_type)
            return mt(second, english or "")
        case _:
            assert_never(route)


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Silero's speech probability per 32 ms window of `audio`."""
    vad = SileroVadModel.shared().stream()
    out = []
    for i in range(0, audio.size, SAMPLE_RATE):
        probs = vad.feed(audio[i : i + SAMPLE_RATE])
        out.append(probs)
        # Silero's state drifts towards "no speech" over long streams
        # (`VadStream.reset_state`); a pause is where the streaming policy resets it too.
        if probs.size >= _QUIET_WINDOWS and (probs[-_QUIET_WINDOWS:] < _QUIET_P).all():
            vad.reset_state()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def run_transcribe(args: argparse.Namespace) -> int:
    # What a user can get wrong is checked before the model loads and the decode starts:
    # a wrong path, language or pair fails at once, not after minutes.
    audio = load_audio(args.file)
    info = resolve_asr(args.model)
    # As a `start` message's codes are read: "EN" or "en-US" is "en".
    language = normalize_language(args.language, "--language") if args.language else None
    target = normalize_language(args.translate_to, "--translate-to") if args.translate_to else None
    check_source_language(info, language)
    models = translation_models(args.mt_model) if target else []
    if target and target != language:
        translation_route(info, models, language, target)
    opts = AsrOptions(compute_type=args.compute_type, workers=1, beam_size=args.beam)
    engine = WhisperEngine(info, opts)
    result = transcribe_audio(engine, audio, language)
    translation = None
    source = language or result.language
    if target and source and target != source:
        route = translation_route(info, models, source, target)
        translation = translate_offline(
            route, engine, audio, result, source, models, args.compute_type
        )
    result = replace(result, translation=translation)
    if args.json:
        print(json.dumps({
            "text": result.text,
            "language": result.language,
            "audio_s": round(result.audio_s, 3),
            "asr_s": round(result.asr_s, 3),
            "rtf": round(result.asr_s / result.audio_s, 3) if result.audio_s else None,
            "translation": result.translation,
            "words": [{"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
                      for w in result.words],
        }, ensure_ascii=False))
    else:
        print(result.text)
        if result.translation is not None:
            print(f"[{target}] {result.translation}")
    return 0
