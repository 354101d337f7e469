"""Shared helpers of the audio tests: real speech, chunking, alignment, tiny muxers."""

from __future__ import annotations

import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SPEECH_WAV = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.10 s, 16 kHz mono
SHORT_WAV = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # 2.99 s

F32 = npt.NDArray[np.float32]


def read_wav(path: Path) -> F32:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == 16000
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def chunks(data: bytes, rng: np.random.Generator, low: int, high: int) -> Iterator[bytes]:
    """`data` cut into random sizes in [low, high] (the last one may be shorter)."""
    pos = 0
    while pos < len(data):
        n = int(rng.integers(low, high + 1))
        yield data[pos : pos + n]
        pos += n


def best_lag(signal: F32, reference: F32, max_lag: int) -> tuple[int, float]:
    """Lag (samples, signal later than reference if > 0) maximizing correlation, and
    the correlation coefficient at that lag over the overlapping part."""
    core = reference[max_lag : len(reference) - max_lag]
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        start = max_lag + lag
        seg = signal[start : start + len(core)]
        if len(seg) < len(core):
            continue
        r = float(np.corrcoef(seg, core)[0, 1])
        if r > best[1]:
            best = (lag, r)
    return best


def ffmpeg_encode(wav: Path, out: Path, *args: str) -> bytes:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), *args, str(out)],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


# -- Ogg pages ---------------------------------------------------------------


def ogg_page(
    serial: int,
    seq: int,
    packets: list[bytes],
    *,
    granule: int = 0,
    bos: bool = False,
    eos: bool = False,
    continued: bool = False,
    last_continues: bool = False,
) -> bytes:
    """One Ogg page holding `packets` (CRC left zero: the demuxer does not check it).
    With `last_continues`, the last packet is cut off without a terminating
    lacing value (it goes on in the next page)."""
    lacing = bytearray()
    for i, packet in enumerate(packets):
        n = len(packet)
        lacing += b"\xff" * (n // 255)
        if not (last_continues and i == len(packets) - 1):
            lacing.append(n % 255)
        elif n % 255:
            raise ValueError("a continued packet piece must be a multiple of 255 bytes")
    flags = (1 if continued else 0) | (2 if bos else 0) | (4 if eos else 0)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, seq, 0, len(lacing))
    return header + bytes(lacing) + b"".join(packets)


# -- EBML --------------------------------------------------------------------

UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def ebml_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(n)


def ebml_element(eid: int, body: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + ebml_size(len(body)) + body


def ebml_children(data: bytes, pos: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    """(id, full element bytes) of the known-size elements in data[pos:end]."""
    out = []
    end = len(data) if end is None else end
    while pos < end:
        first = data[pos]
        id_len = 9 - first.bit_length()
        eid = int.from_bytes(data[pos : pos + id_len], "big")
        s0 = data[pos + id_len]
        size_len = 9 - s0.bit_length()
        size = s0 & (0xFF >> size_len)
        for b in data[pos + id_len + 1 : pos + id_len + size_len]:
            size = (size << 8) | b
        total = id_len + size_len + size
        out.append((eid, data[pos : pos + total]))
        pos += total
    return out


def element_body(element: bytes) -> bytes:
    id_len = 9 - element[0].bit_length()
    size_len = 9 - element[id_len].bit_length()
    return element[id_len + size_len :]


def to_live_webm(webm: bytes) -> bytes:
    """Rewrite a WebM file as a browser's MediaRecorder writes it: Segment and every
    Cluster with unknown size, no SeekHead / Cues (they need seeking)."""
    top = ebml_children(webm)
    assert [eid for eid, _ in top] == [0x1A45DFA3, 0x18538067], "expected EBML + Segment"
    out = bytearray(top[0][1])
    out += bytes.fromhex("18538067") + UNKNOWN_SIZE
    for eid, element in ebml_children(element_body(top[1][1])):
        if eid in (0x114D9B74, 0x1C53BB6B, 0xEC):  # SeekHead, Cues, Void
            continue
        if eid == 0x1F43B675:  # Cluster
            out += bytes.fromhex("1f43b675") + UNKNOWN_SIZE + element_body(element)
        else:
            out += element
    return bytes(out)
