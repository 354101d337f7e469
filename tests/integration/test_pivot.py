"""Captions in a language nothing translates the speaker into directly: a pivot through English.

Real Dutch speech (Fish Fillets NG dialogue), real multilingual Whisper `base`, and
English->German (and Dutch->English) Marian models with random weights that the test
builds and converts with `parley models convert` (tests.integration.mt_checkpoints). Their words
are nonsense: the tests check the plumbing (routes reported, events in the listener's
language, each made from the English leg it names, nothing lost, no error).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from benchmarks.data import build_stream, dutch_clips
from clients.python.parley_client import ParleyClient
from server.models import paths
from server.protocol.schema import schema_for
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.mt_checkpoints import build_marian, english_sentences, models_dir_with
from tests.integration.rooms_support import Follower
from tests.integration.streaming_client import Received, pcm16, stream_pcm

WHISPER_LEG = {"via": "whisper", "model": "base"}
EN_DE_LEG = {"via": "mt", "model": "en-de-tiny", "pair": "en-de"}
NL_EN_LEG = {"via": "mt", "model": "nl-en-tiny", "pair": "nl-en"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory: the cached `base` and two random-weight Marian models."""
    root = models_dir_with(tmp_path_factory.mktemp("models"), paths.models_dir(), ("base",))
    english = english_sentences()
    build_marian(root, "en-de-tiny", ("en", "de"), english)
    dutch = [c.text for c in dutch_clips(fetch=False)[:400]]
    build_marian(root, "nl-en-tiny", ("nl", "en"), dutch + english)
    return root


def _serve(models: Path, tmp: Path, *mt: str) -> Iterator[ServerProcess]:
    args = ["--asr-model", "base"]
    for name in mt:
        args += ["--mt-model", name]
    with parley_serve(*args, tmp=tmp, env={"PARLEY_MODELS_DIR": str(models)}) as server:
        yield server


@pytest.fixture(scope="module")
def whisper_pivot(models: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ServerProcess]:
    """English by Whisper's translate task; German only from English."""
    yield from _serve(models, tmp_path_factory.mktemp("srv"), "en-de-tiny")


@pytest.fixture(scope="module")
def mt_pivot(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """English by a Dutch->English model (preferred to Whisper); German only from English."""
    yield from _serve(models, tmp_path_factory.mktemp("srv"), "nl-en-tiny", "en-de-tiny")


def _dutch(n: int = 6) -> np.ndarray:
    return build_stream(dutch_clips(fetch=False)[:n], pause_s=1.0, name=f"it-dutch-{n}").audio


def _covered_once(translations: list[dict[str, Any]], finals: list[dict[str, Any]]) -> None:
    covered = sorted(s for t in translations for s in t["source_segments"])
    assert covered == [f["segment"] for f in finals]


def _lag(events: list[dict[str, Any]]) -> str:
    values = [e["latency_ms"] for e in events if e["latency_ms"] is not None]
    return f"p50 {statistics.median(values):.0f} ms, max {max(values):.0f} ms (n={len(values)})"


def test_dutch_speech_reaches_german_through_whispers_english(
    whisper_pivot: ServerProcess,
) -> None:
    got: Received = asyncio.run(stream_pcm(
        whisper_pivot.ws, _dutch(), source_language="nl", targets=("de", "en"), realtime=2.0))
    ready = got.events[0]
    assert ready["translation"] == {"de": "pivot", "en": "whisper"}
    assert ready["routes"]["de"] == {"via": "pivot", "through": "en",
                                     "legs": [WHISPER_LEG, EN_DE_LEG]}
    assert not got.of("error"), got.of("error")
    for event in got.events:
        jsonschema.validate(event, schema_for(event["type"]))
    finals = got.of("transcript", final=True)
    english = got.of("translation", final=True)
    german = [e for e in english if e["lang"] == "de"]
    english = [e for e in english if e["lang"] == "en"]
    assert finals and german and english
    assert all(e["via"] == "whisper" for e in english)
    assert all(e["via"] == "pivot" and e["text"] for e in german)
    _covered_once(english, finals)
    _covered_once(german, finals)
    # One English leg for both: each German final was made from the English final
    # the English listener got for the same speech.
    by_segments = {tuple(e["source_segments"]): e["text"] for e in english}
    assert all(e["pivot_text"] == by_segments[tuple(e["source_segments"])] for e in german)
    transcript = {f["segment"]: f["text"] for f in finals}
    assert all(e["source_text"] == transcript[e["source_segments"][0]] for e in german)
    assert not got.of("translation", final=False)  # Whisper's English comes in finals only
    print(f"final lag: transcript {_lag(finals)}; en (Whisper) {_lag(english)}; "
          f"de (pivot) {_lag(german)}")


def test_routes_are_reported_and_a_room_pivots_for_its_listener(
    whisper_pivot: ServerProcess,
) -> None:
    with urllib.request.urlopen(whisper_pivot.http + "/v1/models") as res:
        report = json.load(res)
    routes = {(r["source"], r["target"]): r for r in report["routes"]}
    assert routes["*", "de"] == {"source": "*", "target": "de", "via": "pivot", "through": "en",
                                 "legs": [WHISPER_LEG, EN_DE_LEG]}
    assert routes["en", "de"] == {"source": "en", "target": "de", **EN_DE_LEG}
    assert routes["*", "en"] == {"source": "*", "target": "en", **WHISPER_LEG}
    assert report["targets"] == ["de", "en"]
    assert "any->de (pivot through en)" in report["translation_pairs"]
    said, german, french = asyncio.run(_room(whisper_pivot, "pivot-room"))
    assert german.error is None
    assert german.events[0]["route"] == {"via": "pivot", "through": "en",
                                         "legs": [WHISPER_LEG, EN_DE_LEG]}
    assert german.events[0]["translation"] == "pivot"
    translations = german.of("translation", final=True)
    assert translations and all(e["lang"] == "de" and e["pivot_text"] for e in translations)
    _covered_once(translations, german.of("transcript", final=True))
    # The English leg ran for German alone: nobody asked for English, nobody got it.
    assert not [e for e in said if e["type"] == "translation" and e["lang"] != "de"]
    assert not [e for e in said if e["type"] == "error"]
    # Nothing makes French: the listener is told what is available.
    assert french.error is not None and getattr(french.error, "code", "") == "unsupported_pair"
    assert "any->de (pivot through en)" in str(french.error)


async def _room(server: ServerProcess, room: str) -> tuple[list[dict[str, Any]], Follower,
                                                           Follower]:
    """The Dutch speaker starts with no target; a German listener joins, then a French one."""
    german, french = Follower(server.ws, room, "de"), Follower(server.ws, room, "fr")
    said: list[dict[str, Any]] = []
    async with ParleyClient(server.ws, source_language="nl", room=room) as speaker:
        assert speaker.ready["translation"] == {}

        async def read() -> None:
            async for event in speaker.events():
                said.append(event)

        reader = asyncio.create_task(read())
        listening = asyncio.create_task(german.run())
        await asyncio.wait_for(german.joined.wait(), 30)
        await french.run()  # refused at once
        pcm = pcm16(_dutch(3))
        for i in range(0, len(pcm), 6400):
            await speaker.send_audio(pcm[i:i + 6400])
            await asyncio.sleep(0.1)
        await speaker.stop()
        await asyncio.wait_for(reader, 120)
    await asyncio.wait_for(listening, 60)
    return said, german, french


def test_partials_follow_an_mt_english_leg(mt_pivot: ServerProcess) -> None:
    got = asyncio.run(stream_pcm(
        mt_pivot.ws, _dutch(), source_language="nl", targets=("de",), realtime=1.0))
    ready = got.events[0]
    assert ready["routes"]["de"] == {"via": "pivot", "through": "en",
                                     "legs": [NL_EN_LEG, EN_DE_LEG]}
    assert not got.of("error"), got.of("error")
    finals = got.of("transcript", final=True)
    german = got.of("translation", final=True)
    partials = got.of("translation", final=False)
    assert finals and german and partials
    assert all(e["lang"] == "de" and e["via"] == "pivot" and e["pivot_text"]
               for e in german + partials)
    assert not [e for e in got.of("translation") if e["lang"] != "de"]
    _covered_once(german, finals)
    # Partials along the pivot come before their sentence's final.
    first_final = got.events.index(german[0])
    assert any(got.events.index(p) < first_final for p in partials)
    print(f"final lag: transcript {_lag(finals)}; de (pivot by MT) {_lag(german)}; "
          f"{len(partials)} partials for {len(german)} finals")


def test_a_detected_language_is_routed_again(mt_pivot: ServerProcess) -> None:
    # Before the language is known, German is promised through Whisper's English (that
    # serves any language); once Dutch is detected, the Dutch->English model makes the
    # English instead, and only an MT leg gives the pivot partials.
    got = asyncio.run(stream_pcm(
        mt_pivot.ws, _dutch(4), source_language=None, targets=("de",), realtime=1.0))
    ready = got.events[0]
    assert ready["routes"]["de"]["legs"] == [WHISPER_LEG, EN_DE_LEG]
    assert not got.of("error"), got.of("error")
    finals = got.of("transcript", final=True)
    # (a first short segment may come before the language is detected: Whisper's English)
    assert finals and finals[-1]["language"] == "nl"
    german = got.of("translation", final=True)
    assert german and all(e["via"] == "pivot" for e in german)
    assert got.of("translation", final=False)
    _covered_once(german, finals)
