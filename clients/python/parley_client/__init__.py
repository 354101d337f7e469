"""Parley client library: stream audio to a Parley server, follow rooms, write captions.

    from clients.python.parley_client import ParleyClient, ParleyListener, stream_file

    async with ParleyClient(url, source_language="en", targets=["zh"]) as c:
        await c.send_audio(pcm)          # bytes (16 kHz mono s16le) or a float numpy array
        await c.stop()
        async for event in c.events():
            ...

    result = await stream_file(url, "talk.mp3", realtime=True)   # any format FFmpeg reads
    print(result.transcript())

No global event loop is assumed: everything is `async` and works inside a
running loop (a notebook) as well as under `asyncio.run`.
"""

from clients.python.parley_client.audio import decode_pcm, microphone_chunks, pcm_chunks
from clients.python.parley_client.captions import (
    CaptionTrack,
    Cue,
    format_srt,
    format_vtt,
)
from clients.python.parley_client.client import (
    AudioFormat,
    Event,
    ParleyClient,
    ParleyListener,
)
from clients.python.parley_client.errors import ParleyClientError
from clients.python.parley_client.stream import (
    StreamResult,
    stream_audio,
    stream_file,
    stream_file_sync,
)
from clients.python.parley_client.terminal import LiveCaptions

__all__ = [
    "AudioFormat",
    "CaptionTrack",
    "Cue",
    "Event",
    "LiveCaptions",
    "ParleyClient",
    "ParleyClientError",
    "ParleyListener",
    "StreamResult",
    "decode_pcm",
    "format_srt",
    "format_vtt",
    "microphone_chunks",
    "pcm_chunks",
    "stream_audio",
    "stream_file",
    "stream_file_sync",
]
