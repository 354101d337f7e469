"""Fuzz oracles shared by the atheris fuzzers and the hypothesis property tests.

Each `check_*` function runs one input through the code under test and raises
`AssertionError` (or lets an unexpected exception escape) when the code does
something it must never do:

- `check_protocol_text`: `parse_client_text` returns a typed message or raises
  ProtocolError / AudioError with a known code and a bounded message (the
  message goes back to the client in an `error` event).
- `check_audio_stream`: a decoder turns any bytes, cut anywhere, into finite
  float32 mono samples or raises AudioError; never another exception, and
  never more than `MAX_FEED_SECONDS` of audio out of one `feed` (bounded
  memory: a frame is at most 256 KiB; nothing legitimate decodes to more).

`audio_case(data)` maps raw fuzzer bytes to (AudioSpec, chunks) so a
coverage-guided fuzzer steers the encoding, rate, channels and chunking too;
`seed_cases()` makes real Opus/Vorbis/PCM streams (encoded with PyAV) in that
layout, the seed corpus that gets a fuzzer past the container headers.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterator
from typing import get_args

import numpy as np

from server.audio.decode import AudioSpec, make_decoder
from server.errors import AudioError, ErrorCode, ProtocolError
from server.protocol.messages import (
    FlushMessage,
    StartMessage,
    StopMessage,
    parse_client_text,
)

ERROR_CODES = frozenset(get_args(ErrorCode))
#: Longest error message a client may get back (it is echoed in an `error` event).
MAX_ERROR_MESSAGE = 512
#: Most audio one `feed` may return. A 256 KiB frame of real audio is at most
#: ~16 s of 8 kHz s16 PCM or a few minutes of the lowest-bitrate Opus; a
#: "decompression bomb" (Opus packets of 2 bytes that each decode to 120 ms,
#: 255 of them in an 800-byte Ogg page) would be hours.
MAX_FEED_SECONDS = 60.0
TARGET_RATE = 16000
#: Resampler slack: soxr may release up to a block of held-back samples.
_SLACK = 4096

ENCODINGS = ("pcm_s16le", "pcm_f32le", "webm", "ogg")
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 192000)
_HEADER = 4  # bytes of the audio-case header: encoding, rate, channels, chunking


# -- protocol ----------------------------------------------------------------


def check_protocol_text(text: str) -> None:
    try:
        msg = parse_client_text(text)
    except (ProtocolError, AudioError) as exc:
        assert exc.code in ERROR_CODES, exc.code
        assert isinstance(exc.message, str) and exc.message
        assert len(exc.message) <= MAX_ERROR_MESSAGE, (
            f"error message of {len(exc.message)} chars echoes the input"
        )
        return
    assert isinstance(msg, StartMessage | FlushMessage | StopMessage)
    if isinstance(msg, StartMessage):
        assert msg.type == "start"
        assert isinstance(msg.audio, AudioSpec)
        assert len(msg.target_languages) == len(set(msg.target_languages))
        assert msg.source_language is None or isinstance(msg.source_language, str)


# -- audio -------------------------------------------------------------------


def audio_case(data: bytes) -> tuple[AudioSpec, list[bytes]]:
    """Fuzzer bytes -> a spec and the chunks to feed (header of `_HEADER` bytes)."""
    head = data[:_HEADER].ljust(_HEADER, b"\0")
    payload = data[_HEADER:]
    encoding = ENCODINGS[head[0] % len(ENCODINGS)]
    if encoding.startswith("pcm"):
        spec = AudioSpec(encoding, RATES[head[1] % len(RATES)], 1 + head[2] % 8)  # type: ignore[arg-type]
    else:
        spec = AudioSpec(encoding)  # type: ignore[arg-type]
    return spec, split(payload, head[3])


def split(payload: bytes, seed: int) -> list[bytes]:
    """Cut `payload` into chunks: 0 -> one chunk, else sizes from a small LCG."""
    if seed == 0 or not payload:
        return [payload]
    chunks, pos, state = [], 0, seed
    while pos < len(payload):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        size = 1 + state % (1 + (seed % 64) * 97)
        chunks.append(payload[pos : pos + size])
        pos += size
    return chunks


def encode_case(spec: AudioSpec, payload: bytes, chunk_seed: int = 0) -> bytes:
    """The inverse of `audio_case` for a spec (seed corpus files)."""
    enc = ENCODINGS.index(spec.encoding)
    rate = RATES.index(spec.sample_rate) if spec.sample_rate in RATES else 0
    return bytes([enc, rate, spec.channels - 1, chunk_seed]) + payload


def check_audio_stream(spec: AudioSpec, chunks: list[bytes]) -> int:
    """Feed every chunk, then flush; returns the samples produced (AudioError stops it)."""
    decoder = make_decoder(spec, quality="QQ")  # the quality does not change the parsing
    total = 0
    try:
        for chunk in chunks:
            total += _check_samples(decoder.feed(chunk))
        total += _check_samples(decoder.flush())
    except AudioError as exc:
        assert exc.code in ("bad_audio", "bad_audio_format"), exc.code
        assert len(exc.message) <= MAX_ERROR_MESSAGE
        return total
    if spec.bytes_per_second is not None:  # PCM: the length is known exactly
        frames = sum(map(len, chunks)) // (spec.bytes_per_second // spec.sample_rate)
        expected = frames * TARGET_RATE / spec.sample_rate
        assert abs(total - expected) <= 2, (total, expected)
    return total


def _check_samples(samples: object) -> int:
    assert isinstance(samples, np.ndarray), type(samples)
    assert samples.dtype == np.float32 and samples.ndim == 1, (samples.dtype, samples.shape)
    assert samples.size <= MAX_FEED_SECONDS * TARGET_RATE + _SLACK, (
        f"one feed produced {samples.size / TARGET_RATE:.0f} s of audio"
    )
    if samples.size:
        peak = float(np.max(np.abs(samples)))
        assert math.isfinite(peak), "NaN or inf in decoded audio"
    return int(samples.size)


def check_audio_bytes(data: bytes) -> None:
    spec, chunks = audio_case(data)
    check_audio_stream(spec, chunks)


# -- seeds -------------------------------------------------------------------


def _tone(rate: int, channels: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    return np.ascontiguousarray(np.tile(x, (channels, 1)))


@functools.cache
def encoded(fmt: str, codec: str, rate: int, channels: int, seconds: float = 0.25) -> bytes:
    """A short real stream, encoded with PyAV (no external tool)."""
    import av

    buf = io.BytesIO()
    layout = "mono" if channels == 1 else "stereo"
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "-2"}  # FFmpeg's own encoder
        frame = av.AudioFrame.from_ndarray(_tone(rate, channels, seconds), format="fltp",
                                           layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def seed_streams() -> Iterator[tuple[AudioSpec, bytes]]:
    """Valid streams of every encoding (containers from PyAV, PCM from numpy)."""
    yield AudioSpec("ogg"), encoded("ogg", "libopus", 48000, 1)
    yield AudioSpec("ogg"), encoded("ogg", "libopus", 48000, 2)
    yield AudioSpec("webm"), encoded("webm", "libopus", 48000, 1)
    yield AudioSpec("webm"), encoded("webm", "vorbis", 22050, 2)
    yield AudioSpec("ogg"), encoded("ogg", "vorbis", 44100, 2)
    tone = _tone(16000, 1, 0.1)[0]
    yield AudioSpec("pcm_s16le", 16000, 1), (tone * 32767).astype("<i2").tobytes()
    yield AudioSpec("pcm_f32le", 44100, 2), _tone(44100, 2, 0.05).T.astype("<f4").tobytes()


def seed_cases() -> Iterator[bytes]:
    """Seed corpus entries in the `audio_case` layout (whole and chunked)."""
    for spec, payload in seed_streams():
        yield encode_case(spec, payload, 0)
        yield encode_case(spec, payload, 7)


PROTOCOL_SEEDS = (
    (
        '{"type":"start","audio":{"encoding":"pcm_s16le","sample_rate":16000,"channels":1},'
        '"source_language":"en","target_languages":["zh"],"room":null,"partials":true}'
    ),
    (
        '{"type":"start","audio":{"encoding":"webm"},"source_language":null,'
        '"target_languages":["en","zh-Hans"],"room":"main.hall-1","token":"abc",'
        '"resume":{"session_id":"s1","resume_token":"t","last_seq":3},"protocol":1}'
    ),
    '{"type":"flush"}',
    '{"type":"stop"}',
    '{"type":"start","audio":{"encoding":"ogg","sample_rate":48000,"channels":2}}',
    '[]',
    '{"type":7}',
)
