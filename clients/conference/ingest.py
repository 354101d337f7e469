"""Call audio from any network source FFmpeg reads, as 16 kHz mono PCM chunks.

Sources: an `.sdp` file describing an RTP stream (the bridge listens on the
ports it names), `srt://`, `rtmp://` (add `listen=1` to accept a push),
`http(s)://`, `rtsp://`, or a plain file. A live source has no end of file:
the stream is considered over after `idle_s` seconds without data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import PurePath
from typing import Any

from clients.python.parley_client.audio import decode_pcm

log = logging.getLogger(__name__)


def open_options(source: str, extra: dict[str, str] | None = None) -> tuple[str | None, dict[str, str]]:
    """The demuxer format and FFmpeg options a source needs (plus `extra`, which win)."""
    fmt: str | None = None
    options: dict[str, str] = {}
    if PurePath(source.split("?")[0]).suffix.lower() == ".sdp":
        fmt = "sdp"
        # An SDP file opens RTP/UDP sockets: FFmpeg refuses those protocols unless listed.
        options["protocol_whitelist"] = "file,udp,rtp,crypto,data"
        options["reorder_queue_size"] = "64"
    elif source.startswith("rtsp://"):
        options["rtsp_transport"] = "tcp"
    options.update(extra or {})
    return fmt, options


async def source_chunks(
    source: str, *, chunk_s: float = 0.1, open_timeout_s: float = 60.0, idle_s: float = 5.0,
    extra_options: dict[str, str] | None = None,
) -> AsyncIterator[bytes]:
    """Decoded audio of `source` until it ends or stays silent (no packets) for `idle_s`."""
    fmt, options = open_options(source, extra_options)
    it = decode_pcm(source, chunk_s=chunk_s, options=options, format=fmt,
                    timeout=(open_timeout_s, idle_s))
    done = object()
    log.info("opening %s", source)  # (the first `next` opens it: RTP ports are bound now)
    try:
        while True:
            item: Any = await asyncio.to_thread(next, it, done)
            if item is done:
                log.info("source %s ended (or sent nothing for %.1f s)", source, idle_s)
                return
            yield item
    finally:
        await asyncio.to_thread(it.close)
