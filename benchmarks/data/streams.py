"""Long-form test streams: clips joined with fixed silences, with their references.

The join is deterministic: clips in the order given, each decoded to 16 kHz mono, followed by
exactly `pause_s` of digital silence (zeros, not noise; also after the last clip, so a
streaming recognizer sees the end of the last utterance). Samples are quantized to 16 bits so
that the returned array is exactly what the written WAV file holds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.data.audio import from_pcm16, load_audio_16k, to_pcm16, write_wav16
from benchmarks.data.clips import SAMPLE_RATE, Clip, Stream, StreamPart
from benchmarks.data.english import english_clips
from server.models.paths import data_dir


def default_stream_name(clips: Sequence[Clip], pause_s: float) -> str:
    digest = hashlib.sha256(
        ("\n".join(c.id for c in clips) + f"\n{pause_s:.3f}").encode("utf-8")
    ).hexdigest()
    return f"stream-{digest[:12]}"


def build_stream(
    clips: Sequence[Clip],
    pause_s: float = 0.8,
    name: str | None = None,
    *,
    out_dir: Path | None = None,
) -> Stream:
    """Join `clips` into one 16 kHz stream, write `<out_dir>/<name>.wav` and a JSON sidecar.

    `out_dir` defaults to <data>/streams. The sidecar `<name>.json` holds the reference and
    the offsets for tools that do not import this package.
    """
    if not clips:
        raise ValueError("build_stream needs at least one clip")
    if pause_s < 0:
        raise ValueError("pause_s must be >= 0")
    label = name or default_stream_name(clips, pause_s)
    gap = np.zeros(round(pause_s * SAMPLE_RATE), dtype=np.int16)
    pieces: list[np.ndarray] = []
    parts: list[StreamPart] = []
    cursor = 0
    for clip in clips:
        pcm = to_pcm16(load_audio_16k(clip.path))
        parts.append(
            StreamPart(
                clip_id=clip.id,
                start_s=cursor / SAMPLE_RATE,
                end_s=(cursor + len(pcm)) / SAMPLE_RATE,
                text=clip.text,
                translation_en=clip.translation_en,
            )
        )
        pieces.extend((pcm, gap))
        cursor += len(pcm) + len(gap)
    pcm_all = np.concatenate(pieces).astype(np.int16)
    folder = out_dir or data_dir() / "streams"
    wav_path = folder / f"{label}.wav"
    write_wav16(wav_path, pcm_all)
    reference = " ".join(c.text for c in clips)
    sidecar = {
        "name": label,
        "sample_rate": SAMPLE_RATE,
        "pause_s": pause_s,
        "duration_s": len(pcm_all) / SAMPLE_RATE,
        "reference": reference,
        "parts": [p.__dict__ for p in parts],
    }
    sidecar_path = folder / f"{label}.json"
    tmp = sidecar_path.with_name(f".{sidecar_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, sidecar_path)
    return Stream(
        name=label,
        audio=from_pcm16(pcm_all),
        reference=reference,
        offsets=parts,
        wav_path=wav_path,
    )


def english_stream(pause_s: float = 0.8) -> Stream:
    """Every English clip (english_clips() order) in one stream named "english-all"."""
    return build_stream(english_clips(), pause_s=pause_s, name="english-all" + _pause_tag(pause_s))


def short_english_stream(max_s: float = 30.0, pause_s: float = 0.8) -> Stream:
    """The first English clips whose joined length (with pauses) stays within `max_s`.

    Always at least one clip. With the default 30 s this is the LibriVox reader.
    """
    chosen: list[Clip] = []
    total = 0.0
    for clip in english_clips():
        length = len(load_audio_16k(clip.path)) / SAMPLE_RATE + pause_s
        if chosen and total + length > max_s:
            break
        chosen.append(clip)
        total += length
    name = f"english-short-{max_s:g}s" + _pause_tag(pause_s)
    return build_stream(chosen, pause_s=pause_s, name=name)


def _pause_tag(pause_s: float) -> str:
    """Names of the helper streams carry the pause when it is not the default 0.8 s."""
    return "" if pause_s == 0.8 else f"-pause{pause_s:g}"
