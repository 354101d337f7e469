"""`python -m clients.conference SOURCE ...`: bridge a call into a Parley room.

    # RTP described by an SDP file (e.g. from a SIP gateway or `ffmpeg -f rtp -sdp_file`):
    python -m clients.conference call.sdp --url ws://127.0.0.1:8765 --room standup \\
        --source en --zoom-url 'https://wmcc.zoom.us/closedcaption?id=..&signature=..'
    # SRT / RTMP (listen for a push) / HTTP:
    python -m clients.conference 'srt://0.0.0.0:9000?mode=listener' --room r --vtt r.vtt
    python -m clients.conference rtmp://0.0.0.0:1935/live/call --option listen=1 --room r

Sinks (any number): --zoom-url, --webhook, --vtt. `--caption-lang L` picks the
translation into L for them instead of the transcript (it is added to the targets).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from clients.conference.bridge import BridgeConfig, run_bridge
from clients.conference.sinks import CaptionSink, VttFileSink, WebhookSink, ZoomCaptionSink
from clients.python.parley_client.errors import ParleyClientError
from clients.python.parley_client.urls import DEFAULT_URL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m clients.conference",
        description="Feed call audio from a network source into a Parley room; deliver captions.",
    )
    p.add_argument("source", help="an .sdp file (RTP), srt://, rtmp://, http(s)://, rtsp:// or file")
    p.add_argument("--url", default=DEFAULT_URL, help="Parley server, e.g. ws://HOST:PORT")
    p.add_argument("--room", help="room to speak into (listeners and MQTT follow it)")
    p.add_argument("--source-language", "--source-lang", dest="source_language",
                   help="language spoken in the call (default: detect)")
    p.add_argument("--target", action="append", default=[], help="translation target (repeatable)")
    p.add_argument("--caption-lang", help="deliver the translation into this language to sinks")
    p.add_argument("--zoom-url", help="Zoom closed-caption API URL (the meeting's API token)")
    p.add_argument("--zoom-lang", default="en-US", help="Zoom `lang` parameter, e.g. en-US")
    p.add_argument("--zoom-seq", type=int, default=1, help="first Zoom `seq` number")
    p.add_argument("--webhook", help="POST each final caption as JSON to this URL")
    p.add_argument("--vtt", type=Path, help="write a WebVTT file of the captions")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg option for the source (repeatable)")
    p.add_argument("--idle-timeout", type=float, default=5.0,
                   help="seconds without source data after which the call is over")
    p.add_argument("--open-timeout", type=float, default=60.0,
                   help="seconds to wait for the source to start")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options: dict[str, str] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"bridge: --option needs KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        options[key] = value
    track = args.caption_lang
    targets = tuple(dict.fromkeys([*args.target, *([track] if track else [])]))
    sinks: list[CaptionSink] = []
    if args.zoom_url:
        sinks.append(ZoomCaptionSink(args.zoom_url, lang=args.zoom_lang, track=track,
                                     start_seq=args.zoom_seq))
    if args.webhook:
        sinks.append(WebhookSink(args.webhook, track=track, room=args.room))
    if args.vtt:
        sinks.append(VttFileSink(args.vtt, track=track))
    if not sinks:
        print("bridge: no caption sink given; captions go to the room only", file=sys.stderr)
    config = BridgeConfig(
        source=args.source, url=args.url, room=args.room, source_language=args.source_language,
        targets=targets, open_timeout_s=args.open_timeout, idle_s=args.idle_timeout,
        options=options,
    )
    try:
        result = asyncio.run(run_bridge(config, sinks))
    except ParleyClientError as exc:
        print(f"bridge: error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1 if exc.code == "connection" else 2
    except KeyboardInterrupt:
        return 130
    print(f"bridge: done: {result.audio_s:.1f} s of audio, {result.finals} final captions",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
