"""Resume: a speaker whose connection drops reconnects with its session id and resume
token and carries on; no final is lost, none is repeated, `seq` continues."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from server.protocol.schema import schema_for
from tests.integration.conftest import ServerProcess, parley_serve
from tests.integration.resilience_support import (
    FRAME,
    Speaker,
    final_words,
    heard_share,
    http_get,
    metric,
    speech_pcm,
)
from tests.integration.rooms_support import in_order_hits, librivox_files, read_pcm

PAUSE_S = 0.8


def _first_file_bytes() -> int:
    """Bytes of the first recording plus the pause after it, rounded to whole frames."""
    n = len(read_pcm(librivox_files()[0])) + int(16000 * PAUSE_S) * 2
    return n // FRAME * FRAME


async def _reference(url: str, pcm: bytes) -> list[dict[str, Any]]:
    sp = Speaker(url)
    assert (await sp.start())["type"] == "ready"
    await sp.send_pcm(pcm)
    await sp.stop()
    return sp.finals()


def _resume(ready: dict[str, Any], last_seq: int) -> dict[str, Any]:
    return {"session_id": ready["session_id"], "resume_token": ready["resume_token"],
            "last_seq": last_seq}


def test_a_cut_connection_resumes_without_losing_or_repeating_finals(
    tiny_server: ServerProcess,
) -> None:
    pcm = speech_pcm(2, pause_s=PAUSE_S)
    cut_at = _first_file_bytes() + 15 * FRAME  # 1.5 s into the second recording

    async def run() -> tuple[list[dict[str, Any]], Speaker, dict[str, Any], Speaker, dict[str, Any]]:
        reference = await _reference(tiny_server.ws, pcm)
        a = Speaker(tiny_server.ws)
        ready = await a.start()
        assert ready["resume_grace_s"] == 30 and len(ready["resume_token"]) >= 32
        await a.send_pcm(pcm[:cut_at])
        await a.wait_for(lambda e: e["type"] == "transcript" and e["final"])
        a.cut()  # mid-utterance, no close frame: a network failure
        await a.wait_closed(10)
        b = Speaker(tiny_server.ws)
        ready2 = await b.start(resume=_resume(ready, a.last_seq))
        assert ready2["type"] == "ready", ready2
        await b.send_pcm(pcm[ready2["audio_bytes"]:])  # what the server did not get, once
        await b.stop()
        return reference, a, ready, b, ready2

    reference, a, ready, b, ready2 = asyncio.run(run())
    assert ready2["resumed"] is True and ready2["session_id"] == ready["session_id"]
    assert 0 < ready2["audio_bytes"] <= a.sent_bytes and ready2["audio_bytes"] % FRAME == 0
    assert ready2["seq"] > a.last_seq
    for event in a.events + b.events:  # the resume fields are part of the contract
        jsonschema.validate(event, schema_for(event["type"]))
    # One numbering across both connections: increasing, nothing twice.
    seqs = [e["seq"] for e in a.events] + [e["seq"] for e in b.events if e is not b.events[0]]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert all(e["seq"] > a.last_seq for e in b.events)
    # Every segment's final exactly once, in order, and `end` agrees.
    finals = a.finals() + b.finals()
    assert [f["segment"] for f in finals] == list(range(len(finals)))
    end = b.of("end")[0]
    assert end["reason"] == "stop" and end["segments"] == len(finals) and b.close_code == 1000
    assert a.finals(), "the first connection saw a final before the cut"
    # The same words as an uninterrupted run of the same audio.
    ref_words, got = final_words(reference), final_words(finals)
    assert len(finals) == len(reference)
    # (Streaming is timing-dependent: two uninterrupted runs may differ by a word or two.)
    slack = max(3, 0.1 * len(ref_words))
    assert in_order_hits(ref_words, got) >= len(ref_words) - slack, (
        " ".join(ref_words), " ".join(got))
    assert abs(len(got) - len(ref_words)) <= slack


def test_a_resume_replays_the_finals_after_last_seq(tiny_server: ServerProcess) -> None:
    pcm = speech_pcm(1, pause_s=PAUSE_S)

    async def run() -> tuple[Speaker, Speaker, dict[str, Any]]:
        a = Speaker(tiny_server.ws)
        ready = await a.start()
        await a.send_pcm(pcm)
        await a.wait_for(lambda e: e["type"] == "transcript" and e["final"])
        a.cut()
        await a.wait_closed(10)
        # As if the client had seen nothing after `ready`.
        b = Speaker(tiny_server.ws)
        ready2 = await b.start(resume=_resume(ready, ready["seq"]))
        await b.stop()
        return a, b, ready2

    a, b, ready2 = asyncio.run(run())
    retained = [e for e in a.events if e["type"] in ("error", "end")
                or (e["type"] in ("transcript", "translation") and e["final"])]
    assert ready2["replayed"] == len(retained) >= 1
    assert b.events[1 : 1 + len(retained)] == retained  # the same events, the same seq
    assert b.of("end")[0]["segments"] == len(retained)


def test_resume_refusals(tiny_server: ServerProcess) -> None:
    async def refused(resume: dict[str, Any]) -> dict[str, Any]:
        sp = Speaker(tiny_server.ws)
        first = await sp.start(resume=resume)
        await sp.wait_closed(20)
        assert first["type"] == "error" and first["code"] == "session_not_found", first
        assert first["fatal"] is True and sp.close_code == 1008
        jsonschema.validate(first, schema_for("error"))
        return first

    async def run() -> dict[str, Any]:
        a = Speaker(tiny_server.ws)
        ready = await a.start()
        await refused({**_resume(ready, 0), "resume_token": "x" * 32})  # wrong token
        await refused({**_resume(ready, 0), "session_id": "0123456789abcdef"})  # no such id
        await a.stop()  # ended: nothing left to resume
        return await refused(_resume(ready, 0))

    error = asyncio.run(run())
    assert "Start a new session" in error["message"]


@pytest.fixture(scope="module")
def short_grace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with parley_serve("--asr-model", "tiny.en", "--no-mt", "--resume-grace-s", "1.5",
                      tmp=tmp_path_factory.mktemp("grace")) as srv:
        yield srv


def test_after_the_grace_period_the_session_is_gone(short_grace: ServerProcess) -> None:
    async def run() -> dict[str, Any]:
        a = Speaker(short_grace.ws)
        ready = await a.start()
        assert ready["resume_grace_s"] == 1.5
        await a.send_pcm(speech_pcm(1)[: 20 * FRAME])
        a.cut()
        await asyncio.sleep(4.0)
        b = Speaker(short_grace.ws)
        return await b.start(resume=_resume(ready, a.last_seq))

    first = asyncio.run(run())
    assert first["type"] == "error" and first["code"] == "session_not_found"
    _, text = http_get(short_grace.http + "/metrics")
    assert metric(text, 'parley_sessions_total{reason="expired"}') >= 1
    assert metric(text, "parley_parked_sessions") == 0
    assert metric(text, "parley_active_sessions") == 0


def test_resuming_takes_over_a_connection_the_server_still_holds(
    short_grace: ServerProcess,
) -> None:
    pcm = speech_pcm(1)

    async def run() -> tuple[Speaker, Speaker]:
        a = Speaker(short_grace.ws)
        ready = await a.start()
        await a.send_pcm(pcm[: 30 * FRAME])
        # The client believes its connection is dead; the server does not know yet.
        b = Speaker(short_grace.ws)
        ready2 = await b.start(resume=_resume(ready, a.last_seq))
        assert ready2["type"] == "ready" and ready2["resumed"] is True, ready2
        await a.wait_closed(10)
        await b.send_pcm(pcm[ready2["audio_bytes"]:])
        await b.stop()
        return a, b

    a, b = asyncio.run(run())
    assert (a.close_code, a.close_reason) == (1000, "resumed on another connection")
    assert b.close_code == 1000 and b.of("end")[0]["segments"] == len(a.finals() + b.finals())
    # Nothing said on either connection is lost (tiny.en may mishear a name).
    assert heard_share(" ".join(f["text"] for f in a.finals() + b.finals())) >= 0.8
    _, text = http_get(short_grace.http + "/metrics")
    assert metric(text, "parley_resumes_total") >= 1
