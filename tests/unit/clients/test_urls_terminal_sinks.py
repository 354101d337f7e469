from __future__ import annotations

import io

import pytest

from clients.conference.ingest import open_options
from clients.conference.sinks import Caption, HttpError, ZoomCaptionSink
from clients.python.parley_client.terminal import LiveCaptions
from clients.python.parley_client.urls import http_url, listen_url, stream_url


def test_urls() -> None:
    assert stream_url("ws://h:1") == "ws://h:1/v1/stream"
    assert stream_url("http://h:1/") == "ws://h:1/v1/stream"
    assert stream_url("https://h/custom") == "wss://h/custom"
    assert stream_url("h:8765") == "ws://h:8765/v1/stream"
    assert listen_url("ws://h:1/v1/stream", "r 1", "de") == "ws://h:1/v1/listen?room=r+1&lang=de"
    assert listen_url("ws://h:1", "r") == "ws://h:1/v1/listen?room=r"
    assert http_url("ws://127.0.0.1:8765/v1/stream", "/v1/models") == (
        "http://127.0.0.1:8765/v1/models"
    )
    assert http_url("wss://captions.example:443", "/metrics") == "https://captions.example:443/metrics"
    with pytest.raises(ValueError):
        stream_url("ftp://h")


def test_live_captions_overwrite_partials_on_a_terminal() -> None:
    out = io.StringIO()
    live = LiveCaptions(out, tty=True)
    live.show({"type": "transcript", "final": False, "text": "hel"})
    live.show({"type": "transcript", "final": False, "text": "hello wor"})
    live.show({"type": "transcript", "final": True, "text": "Hello world."})
    live.show({"type": "translation", "final": True, "lang": "de", "text": "Hallo Welt."})
    assert out.getvalue() == (
        "\r\x1b[2Khel\r\x1b[2Khello wor\r\x1b[2KHello world.\n  [de] Hallo Welt.\n")
    piped = io.StringIO()
    plain = LiveCaptions(piped, tty=False)
    plain.show({"type": "transcript", "final": False, "text": "hel"})
    plain.show({"type": "transcript", "final": True, "text": "Hello."})
    assert piped.getvalue() == "Hello.\n"


def test_zoom_urls_and_captions() -> None:
    sink = ZoomCaptionSink("https://wmcc.zoom.us/closedcaption?id=1&signature=s", lang="de-DE")
    assert sink.url_for(7) == "https://wmcc.zoom.us/closedcaption?id=1&signature=s&seq=7&lang=de-DE"
    assert ZoomCaptionSink("http://h/cc").url_for(1) == "http://h/cc?seq=1&lang=en-US"
    assert Caption.of({"type": "transcript", "final": False, "text": "x"}) is None
    cap = Caption.of({"type": "translation", "final": True, "lang": "de", "text": " Hallo "})
    assert cap is not None and (cap.lang, cap.text) == ("de", "Hallo")
    assert HttpError(503, "").retryable and HttpError(408, "").retryable
    assert HttpError(None, "timeout").retryable and not HttpError(403, "").retryable


def test_sdp_sources_get_the_rtp_whitelist() -> None:
    fmt, options = open_options("/tmp/call.sdp", {"reorder_queue_size": "0"})
    assert fmt == "sdp" and "rtp" in options["protocol_whitelist"]
    assert options["reorder_queue_size"] == "0"
    assert open_options("srt://0.0.0.0:9000?mode=listener") == (None, {})
