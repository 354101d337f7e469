"""Conference bridge end to end on loopback: ffmpeg sends RTP of real speech to the bridge,
which speaks into a room on a real server; a local HTTP server stands in for Zoom's
closed-caption endpoint (and a webhook) and must get the words, in order, with seq 1, 2, 3..."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.conftest import ROOT, ServerProcess
from tests.integration.rooms_support import (
    Follower,
    in_order_hits,
    librivox_files,
    librivox_text,
    speech,
    words,
)

pytestmark = pytest.mark.slow


@dataclass
class Post:
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: str
    status: int


@dataclass
class CaptionEndpoint:
    """Records every POST; answers 503 to the first caption POST (Zoom must be retried)."""

    posts: list[Post] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                parts = urlsplit(self.path)
                with endpoint.lock:
                    first = not any(p.path == parts.path for p in endpoint.posts)
                    status = 503 if first and parts.path == "/zoom" else 200
                    endpoint.posts.append(Post(parts.path, parse_qs(parts.query),
                                               self.headers.get("Content-Type", ""), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def of(self, path: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.path == path]


@pytest.fixture
def endpoint() -> Iterator[tuple[CaptionEndpoint, int]]:
    captions = CaptionEndpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), captions.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield captions, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def rtp_port() -> int:
    """An even UDP port with the next one (RTCP) free too."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                 socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free RTP port pair")


async def test_rtp_call_audio_becomes_zoom_captions(
    tiny_server: ServerProcess, endpoint: tuple[CaptionEndpoint, int], tmp_path: Path
) -> None:
    captions, http_port = endpoint
    files = librivox_files()[:3]
    audio = tmp_path / "call.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 8000 + speech(files, pause_s=1.0))
    port = rtp_port()
    sdp = tmp_path / "call.sdp"
    sdp.write_text(
        "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=call\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=audio {port} RTP/AVP 97\na=rtpmap:97 L16/16000/1\n"
    )
    vtt = tmp_path / "call.vtt"
    room = "bridge-room"
    follower = Follower(tiny_server.ws, room)
    following = asyncio.create_task(follower.run())
    await asyncio.wait_for(follower.joined.wait(), 10)

    bridge = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clients.conference", str(sdp), "--url", tiny_server.ws,
        "--room", room, "--source-language", "en",
        "--zoom-url", f"http://127.0.0.1:{http_port}/zoom?id=42&ns=abc&signature=x",
        "--zoom-lang", "en-US", "--webhook", f"http://127.0.0.1:{http_port}/hook",
        "--vtt", str(vtt), "--idle-timeout", "3", "--open-timeout", "60",
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    opened = asyncio.Event()

    async def read_log() -> None:
        assert bridge.stderr is not None
        async for raw in bridge.stderr:
            lines.append(raw.decode(errors="replace"))
            if "opening" in lines[-1]:
                opened.set()

    logging = asyncio.create_task(read_log())
    try:
        await asyncio.wait_for(opened.wait(), 60)
        await asyncio.sleep(1.0)  # its RTP socket is bound right after
        sender = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(audio),
            "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16be", "-payload_type", "97",
            "-f", "rtp", f"rtp://127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(sender.wait(), 120) == 0
        assert await asyncio.wait_for(bridge.wait(), 120) == 0, "".join(lines)
    finally:
        if bridge.returncode is None:
            bridge.kill()
            await bridge.wait()
        await logging
    await asyncio.wait_for(following, 20)

    zoom = captions.of("/zoom")
    accepted = [p for p in zoom if p.status == 200]
    assert zoom[0].status == 503 and zoom[1].query["seq"] == zoom[0].query["seq"]  # a retry
    seqs = [int(p.query["seq"][0]) for p in accepted]
    assert seqs == list(range(1, len(accepted) + 1))  # strictly increasing, new captions only
    assert all(p.query["lang"] == ["en-US"] and p.query["id"] == ["42"] for p in zoom)
    assert all(p.content_type.startswith("text/plain") for p in zoom)
    reference = words(" ".join(librivox_text(f) for f in files))
    heard = words(" ".join(p.body for p in accepted))
    assert in_order_hits(reference, heard) >= 0.8 * len(reference), (reference, heard)

    # The room got the same finals; the webhook and the WebVTT file got every caption.
    room_finals = [e["text"] for e in follower.of("transcript", final=True)]
    assert [p.body for p in accepted] == room_finals
    hooks = [json.loads(p.body) for p in captions.of("/hook")]
    assert [h["text"] for h in hooks] == room_finals and hooks[0]["room"] == room
    assert in_order_hits(reference, words(vtt.read_text())) >= 0.8 * len(reference)
