"""The audio-in stage: what a speaker announces (`AudioSpec`) and its decoder.

Every decoder is sans-I/O and thread-free: `feed(bytes)` returns the float32
mono 16 kHz samples the bytes so far complete (possibly none), `flush()` ends
the stream and returns what the decoder and resampler still hold. One decoder
per session; after `flush()`, `feed()` raises `AudioError`.

    spec = AudioSpec.parse(start_message["audio"])   # AudioError(code="bad_audio_format")
    decoder = make_decoder(spec)
    samples = decoder.feed(frame)                     # AudioError(code="bad_audio")
    tail = decoder.flush()

Encodings:
- `pcm_s16le`, `pcm_f32le`: interleaved little-endian PCM, any rate in
  8000..192000, 1..8 channels (averaged to mono), frames split anywhere
  (`server.audio.pcm`).
- `webm`, `ogg`: what browsers' MediaRecorder writes (Opus; Vorbis also
  accepted), decoded as the bytes arrive (`server.audio.container`). The
  container's header decides rate and channels; `sample_rate` / `channels`
  in the spec are optional and only checked for range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from server.audio.container import ContainerDecoder
from server.audio.pcm import PcmDecoder
from server.audio.resample import TARGET_RATE, Quality, Samples
from server.errors import AudioError

Encoding = Literal["pcm_s16le", "pcm_f32le", "webm", "ogg"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
PCM_ENCODINGS = ("pcm_s16le", "pcm_f32le")

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
MAX_CHANNELS = 8
#: What `sample_rate` / `channels` hold for a container spec that leaves them out.
CONTAINER_DEFAULT_RATE = 48000

_FIELDS = ("encoding", "sample_rate", "channels")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: object, limit: int = 40) -> str:
    """repr() cut to `limit` characters: error messages go back to the client."""
    return _cut(repr(value), limit)


def _bad(message: str) -> AudioError:
    return AudioError(message, code="bad_audio_format")


def _check_int(name: str, value: object, low: int, high: int) -> int:
    # bool is an int in Python but never a valid rate or channel count.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(f"audio.{name} must be an integer between {low} and {high}, got {_show(value)}")
    return value


@dataclass(frozen=True)
class AudioSpec:
    """The `audio` object of a `start` message, validated."""

    encoding: Encoding
    #: Input rate for PCM. For containers: informational (the stream header decides).
    sample_rate: int = TARGET_RATE
    #: Interleaved channels for PCM, averaged to mono. For containers: informational.
    channels: int = 1

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise _bad(
                f"audio.encoding must be one of {', '.join(map(repr, ENCODINGS))}, "
                f"got {self.encoding!r}"
            )
        _check_int("sample_rate", self.sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        _check_int("channels", self.channels, 1, MAX_CHANNELS)

    @property
    def is_container(self) -> bool:
        return self.encoding not in PCM_ENCODINGS

    @property
    def bytes_per_second(self) -> int | None:
        """Input bytes per audio second for PCM (for rate limits); None for containers."""
        if self.is_container:
            return None
        width = 2 if self.encoding == "pcm_s16le" else 4
        return width * self.channels * self.sample_rate

    @classmethod
    def parse(cls, obj: object) -> AudioSpec:
        """Validate a decoded-JSON `audio` object; raises AudioError("bad_audio_format").

        `encoding` is required; `sample_rate` is required for PCM; `channels`
        defaults to 1. Unknown fields are rejected (they are usually typos such
        as "samplerate", which would otherwise silently play at the wrong speed).
        """
        example = '{"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}'
        if not isinstance(obj, Mapping):
            raise _bad(f"audio must be an object such as {example}, got {type(obj).__name__}")
        unknown = [str(k) for k in obj if k not in _FIELDS]
        if unknown:
            raise _bad(
                f"audio has unknown field(s) {_cut(', '.join(map(repr, sorted(unknown))), 80)}; "
                f"allowed: {', '.join(_FIELDS)}"
            )
        if "encoding" not in obj:
            raise _bad(f"audio.encoding is required: one of {', '.join(map(repr, ENCODINGS))}")
        encoding = obj["encoding"]
        if not isinstance(encoding, str) or encoding not in ENCODINGS:
            raise _bad(
                f"audio.encoding must be one of {', '.join(map(repr, ENCODINGS))}, got {_show(encoding)}"
            )
        container = encoding not in PCM_ENCODINGS
        if "sample_rate" in obj:
            rate = _check_int("sample_rate", obj["sample_rate"], MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        elif container:
            rate = CONTAINER_DEFAULT_RATE
        else:
            raise _bad(f"audio.sample_rate is required for {encoding}")
        channels = _check_int("channels", obj.get("channels", 1), 1, MAX_CHANNELS)
        return cls(encoding, rate, channels)  # type: ignore[arg-type]  # checked above


class AudioDecoder(Protocol):
    """Bytes of one session's audio stream -> float32 mono 16 kHz samples."""

    def feed(self, data: bytes) -> Samples:
        """Decode what `data` completes; possibly an empty array. Raises AudioError."""
        ...

    def flush(self) -> Samples:
        """End of stream: what the decoder and resampler still hold."""
        ...


def make_decoder(spec: AudioSpec, *, quality: Quality = "HQ") -> AudioDecoder:
    """A fresh decoder for one session's stream."""
    if spec.encoding == "pcm_s16le":
        return PcmDecoder("s16le", spec.sample_rate, spec.channels, quality=quality)
    if spec.encoding == "pcm_f32le":
        return PcmDecoder("f32le", spec.sample_rate, spec.channels, quality=quality)
    if spec.encoding == "webm":
        return ContainerDecoder("webm", quality=quality)
    return ContainerDecoder("ogg", quality=quality)


__all__ = [
    "TARGET_RATE",
    "AudioDecoder",
    "AudioSpec",
    "Encoding",
    "make_decoder",
]
