"""Audio sources: any file or URL FFmpeg reads (via PyAV), or a microphone (optional).

Everything comes out as 16 kHz mono s16le PCM chunks, the server's native
format, so no decoding is needed on the server side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator, Mapping
from typing import Any

import av
import numpy as np

from clients.python.parley_client.errors import ParleyClientError

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2


def decode_pcm(
    source: str, *, chunk_s: float = 0.1, options: Mapping[str, str] | None = None,
    format: str | None = None, timeout: tuple[float, float] | None = None,
) -> Generator[bytes, None, None]:
    """Yield 16 kHz mono s16le chunks of `chunk_s` seconds (the last may be shorter).

    `source` is a path or any URL FFmpeg can open (rtp via an .sdp file, srt://,
    rtmp://, http://...); `options` are FFmpeg demuxer/protocol options.
    `timeout` = (open, read) seconds for live sources: no data for `read`
    seconds ends the stream. Blocking: run it in a thread from async code
    (see `pcm_chunks`).
    """
    chunk = max(2, int(chunk_s * SAMPLE_RATE) * 2)
    try:
        container = av.open(source, mode="r", format=format, options=dict(options or {}),
                            timeout=timeout)
    except av.ExitError as exc:
        raise ParleyClientError(f"no data from {source} in time", code="timeout") from exc
    except (av.FFmpegError, OSError) as exc:
        raise ParleyClientError(f"cannot open {source}: {exc}", code="bad_audio") from exc
    with container:
        if not container.streams.audio:
            raise ParleyClientError(f"{source} has no audio stream", code="bad_audio")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = bytearray()
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pending += out.to_ndarray().tobytes()
                while len(pending) >= chunk:
                    yield bytes(pending[:chunk])
                    del pending[:chunk]
        except av.ExitError:
            pass  # the read timeout: a live source went quiet, its stream is over
        except av.FFmpegError as exc:
            raise ParleyClientError(f"cannot decode {source}: {exc}", code="bad_audio") from exc
        for out in resampler.resample(None):
            pending += out.to_ndarray().tobytes()
        while pending:
            yield bytes(pending[:chunk])
            del pending[:chunk]


async def pcm_chunks(
    source: str, *, chunk_s: float = 0.1, options: Mapping[str, str] | None = None,
    format: str | None = None,
) -> AsyncIterator[bytes]:
    """`decode_pcm` without blocking the event loop (decoding runs in a worker thread)."""
    it = decode_pcm(source, chunk_s=chunk_s, options=options, format=format)
    done = object()
    try:
        while True:
            item: Any = await asyncio.to_thread(next, it, done)
            if item is done:
                return
            yield item
    finally:
        await asyncio.to_thread(it.close)


async def microphone_chunks(
    *, chunk_s: float = 0.1, device: str | int | None = None
) -> AsyncIterator[bytes]:
    """16 kHz mono s16le chunks from a microphone (needs the optional `sounddevice`)."""
    try:
        import sounddevice
    except (ImportError, OSError):  # OSError: installed, but no PortAudio library
        raise ParleyClientError(
            "microphone input needs the optional package 'sounddevice' "
            "(pip install sounddevice; on Linux also the PortAudio library, e.g. "
            "apt install libportaudio2)",
            code="no_microphone",
        ) from None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)

    def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
        data = bytes(indata)

        def put() -> None:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled consumer loses audio
                queue.put_nowait(data)

        loop.call_soon_threadsafe(put)

    try:
        stream = sounddevice.RawInputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="int16",
            blocksize=int(chunk_s * SAMPLE_RATE), device=device, callback=callback,
        )
    except Exception as exc:  # PortAudioError and friends: no usable device
        raise ParleyClientError(f"no usable microphone: {exc}", code="no_microphone") from exc
    with stream:
        while True:
            yield await queue.get()


def samples_of(pcm: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1]."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
