"""`parley-client`: stream a file or a microphone to a Parley server, or follow a room.

    parley-client talk.mp3 --source en --target zh --vtt talk.vtt --srt talk.srt
    parley-client talk.mp3 --fast --jsonl events.jsonl        # as fast as the server takes it
    parley-client --mic --room standup                       # speak into a room
    parley-client --listen standup --lang zh                 # follow a room

Captions show live (partials rewritten in place, finals printed). Caption
files hold the transcript; each translation language goes next to it as
NAME.<lang>.vtt / NAME.<lang>.srt. Every flag has a PARLEY_CLIENT_* variable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from clients.python.parley_client.audio import microphone_chunks, pcm_chunks
from clients.python.parley_client.captions import CaptionTrack, format_srt, format_vtt
from clients.python.parley_client.client import Event, ParleyListener
from clients.python.parley_client.errors import ParleyClientError
from clients.python.parley_client.stream import stream_audio
from clients.python.parley_client.terminal import LiveCaptions
from clients.python.parley_client.urls import DEFAULT_URL


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get("PARLEY_CLIENT_" + name.upper().replace("-", "_"), default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parley-client",
        description="Stream audio to a Parley server (or follow a room) and show live captions.",
    )
    p.add_argument("input", nargs="?", help="audio/video file or URL in any format FFmpeg reads")
    p.add_argument("--url", default=_env("url", DEFAULT_URL), help="server, e.g. ws://HOST:PORT")
    p.add_argument("--mic", action="store_true", help="stream the default microphone")
    p.add_argument("--listen", metavar="ROOM", help="follow ROOM instead of sending audio")
    p.add_argument("--lang", help="with --listen: translation language to follow")
    p.add_argument("--source", default=_env("source"), help="source language (default: detect)")
    p.add_argument("--target", action="append", default=[],
                   help="translation target language (repeatable)")
    p.add_argument("--room", default=_env("room"), help="speak into this room")
    p.add_argument("--fast", action="store_true",
                   help="send as fast as the server takes it (default: real-time pace)")
    p.add_argument("--no-partials", action="store_true", help="ask for finals only")
    p.add_argument("--latency", choices=["fast", "balanced", "accurate"],
                   default=_env("latency"),
                   help="latency mode of the session (default: the server's): accurate finals"
                        " come once each utterance ends")
    p.add_argument("--vtt", type=Path, help="write WebVTT captions here")
    p.add_argument("--srt", type=Path, help="write SRT captions here")
    p.add_argument("--jsonl", type=Path, help="write every event here, one JSON object a line")
    p.add_argument("--quiet", action="store_true", help="no live captions on the terminal")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    modes = sum(bool(x) for x in (args.input, args.mic, args.listen))
    if modes != 1:
        print("parley-client: give exactly one of: a FILE, --mic, --listen ROOM", file=sys.stderr)
        return 2
    unwritable = unwritable_outputs(args)
    if unwritable:
        print(f"parley-client: error: {unwritable}; nothing was sent", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except ParleyClientError as exc:
        print(f"parley-client: error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2 if exc.code not in ("connection",) else 1
    except KeyboardInterrupt:
        return 130


async def run(args: argparse.Namespace) -> int:
    display = None if args.quiet else LiveCaptions()
    track = CaptionTrack()
    jsonl: IO[str] | None = args.jsonl.open("w", encoding="utf-8") if args.jsonl else None

    def on_event(event: Event) -> None:
        track.add(event)
        if display is not None:
            display.show(event)
        if jsonl is not None:
            jsonl.write(json.dumps(event, ensure_ascii=False) + "\n")
            jsonl.flush()

    try:
        if args.listen:
            async with ParleyListener(args.url, args.listen, args.lang) as listener:
                on_event(listener.joined)
                async for event in listener.events():
                    on_event(event)
        else:
            chunks: AsyncIterator[bytes] = (
                microphone_chunks() if args.mic else pcm_chunks(args.input)
            )
            await stream_audio(
                args.url, chunks, realtime=not args.fast and not args.mic,
                source_language=args.source, targets=args.target, room=args.room,
                partials=not args.no_partials, on_event=on_event, latency=args.latency,
            )
    finally:
        if display is not None:
            display.close()
        if jsonl is not None:
            jsonl.close()
        write_captions(track, args.vtt, args.srt)
    return 0


def unwritable_outputs(args: argparse.Namespace) -> str | None:
    """Why one of --vtt / --srt / --jsonl cannot be written, or None."""
    for flag in ("vtt", "srt", "jsonl"):
        path: Path | None = getattr(args, flag)
        if path is None:
            continue
        if path.is_dir():
            return f"--{flag} {path} is a directory"
        if not path.parent.is_dir():
            return f"--{flag} {path}: no such directory {path.parent}"
        try:  # a real write: permission bits do not tell for root or /proc
            if path.exists():
                path.open("a").close()  # (content untouched)
            else:
                tempfile.TemporaryFile(dir=path.parent).close()
        except OSError as exc:
            return f"--{flag} {path}: cannot write there ({exc.strerror or exc})"
    return None


def write_captions(track: CaptionTrack, vtt: Path | None, srt: Path | None) -> None:
    for path, fmt in ((vtt, format_vtt), (srt, format_srt)):
        if path is None:
            continue
        path.write_text(fmt(track.cues(None)), encoding="utf-8")
        for lang in sorted(k for k in track.tracks if k is not None):
            sibling = path.with_name(f"{path.stem}.{lang}{path.suffix}")
            sibling.write_text(fmt(track.cues(lang)), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
