from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.audio.helpers import F32, SPEECH_WAV, ffmpeg_encode, read_wav


@pytest.fixture(scope="session")
def speech() -> F32:
    """7.10 s of real read English speech, 16 kHz mono float32."""
    return read_wav(SPEECH_WAV)


Encoder = Callable[..., bytes]


@pytest.fixture(scope="session")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    """encoded("webm", "-c:a", "libopus", ...) -> bytes of SPEECH_WAV encoded by ffmpeg
    (cached per argument list for the whole test session)."""
    cache: dict[tuple[str, ...], bytes] = {}
    folder: Path = tmp_path_factory.mktemp("encoded")

    def encode(ext: str, *args: str) -> bytes:
        key = (ext, *args)
        if key not in cache:
            out = folder / f"speech{len(cache)}.{ext}"
            cache[key] = ffmpeg_encode(SPEECH_WAV, out, *args)
        return cache[key]

    return encode
