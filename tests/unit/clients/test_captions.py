from __future__ import annotations

from clients.python.parley_client.captions import (
    CaptionTrack,
    Cue,
    format_srt,
    format_vtt,
    split_text,
    timestamp,
)


def test_timestamps() -> None:
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(3723.4567) == "01:02:03.457"
    assert timestamp(1.5, ",") == "00:00:01,500"


def test_vtt_and_srt() -> None:
    cues = [Cue(1.0, 2.5, "Hello <world> & co --> x"), Cue(3.0, 3.0, "Two")]
    vtt = format_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n")
    assert "Hello &lt;world> &amp; co --&gt; x" in vtt
    assert "00:00:03.000 --> 00:00:03.500" in vtt  # a zero-length cue gets a duration
    srt = format_srt(cues)
    assert srt.startswith("1\n00:00:01,000 --> 00:00:02,500\nHello <world> & co --> x\n\n2\n")


def test_tracks_take_finals_only() -> None:
    track = CaptionTrack()
    assert track.add({"type": "transcript", "final": False, "text": "he"}) == []
    track.add({"type": "transcript", "final": True, "text": "Hello.", "start": 1, "end": 2})
    track.add({"type": "translation", "final": True, "lang": "de", "text": "Hallo.",
               "start": 1, "end": 2})
    track.add({"type": "transcript", "final": True, "text": "  ", "start": 3, "end": 4})
    assert [c.text for c in track.cues()] == ["Hello."]
    assert [c.text for c in track.cues("de")] == ["Hallo."]


def test_long_finals_are_cut_and_timed_by_their_words() -> None:
    tokens = [f"word{i:02d}" for i in range(30)]  # 6 letters each
    text = " ".join(tokens)
    words = [{"word": t, "start": float(i), "end": i + 0.5} for i, t in enumerate(tokens)]
    cues = split_text(text, 0.0, 30.0, words, line_chars=42)
    assert len(cues) == 3
    assert all(len(c.text) <= 84 for c in cues)
    assert " ".join(c.text for c in cues) == text
    assert cues[0].start == 0.0 and cues[1].start == float(len(cues[0].text.split()))
    assert cues[-1].end == 29.5
    # Without word timings the span is shared out.
    plain = split_text(text, 0.0, 30.0, [], line_chars=42)
    assert plain[0].start == 0.0 and plain[-1].end == 30.0
