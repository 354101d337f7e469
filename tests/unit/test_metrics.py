"""server.metrics: the Prometheus text exposition written by hand."""

from __future__ import annotations

import re

import pytest

from server.metrics import Counter, Histogram, MtStats, ServerMetrics, Snapshot, parse_text

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
                    r"(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$")


def check_exposition(text: str) -> None:
    """Every sample line is well formed and belongs to a family declared just before."""
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in declared, f"{name} declared twice"
            declared[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            assert SAMPLE.match(line), line
            name = line.split("{")[0].split(" ")[0]
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in declared or declared.get(family) == "histogram", line


def snapshot(**kw: object) -> Snapshot:
    base: dict[str, object] = {"active_sessions": 2, "parked_sessions": 1, "listeners": 3,
                               "asr_queue_depth": 4, "draining": False, "max_sessions": 16,
                               "asr_workers": 2, "asr_busy_workers": 1}
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    h = Histogram("x_seconds", "help", (0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v, stage="a")
    lines = list(h.render())
    values = parse_text("\n".join(lines))
    assert values['x_seconds_bucket{stage="a",le="0.1"}'] == 2  # 0.1 counts as <= 0.1
    assert values['x_seconds_bucket{stage="a",le="1"}'] == 3
    assert values['x_seconds_bucket{stage="a",le="+Inf"}'] == 4  # 3.0 is above every bound
    assert values['x_seconds_count{stage="a"}'] == 4
    assert values['x_seconds_sum{stage="a"}'] == pytest.approx(3.65)


def test_label_values_are_escaped() -> None:
    c = Counter("c_total", "help")
    c.inc(code='a"b\\c\nd')
    line = list(c.render())[-1]
    assert line == 'c_total{code="a\\"b\\\\c\\nd"} 1'
    with pytest.raises(ValueError):
        c.inc(-1)


def test_events_feed_the_right_series() -> None:
    m = ServerMetrics()
    m.observe_event({"type": "transcript", "final": False, "latency_ms": 100.0})  # partial: no
    m.observe_event({"type": "transcript", "final": True, "latency_ms": 1200.0,
                     "queue_ms": 5.0, "asr_ms": 300.0})
    m.observe_event({"type": "translation", "final": True, "latency_ms": 1500.0, "mt_ms": 40.0,
                     "via": "mt"})
    m.observe_event({"type": "translation", "final": True, "latency_ms": None, "mt_ms": 400.0,
                     "via": "whisper"})
    m.observe_event({"type": "error", "code": "model_error"})
    m.audio_seconds(2.5)
    m.rejected("unauthorized")
    m.session_ended("stop")
    text = m.render(snapshot(mt=(MtStats("zh-en", 3, 7, 1, 0, 4, 2),)))
    check_exposition(text)
    v = parse_text(text)
    assert v['parley_final_latency_seconds_count{event="transcript"}'] == 1
    assert v['parley_final_latency_seconds_sum{event="transcript"}'] == pytest.approx(1.2)
    assert v['parley_final_latency_seconds_count{event="translation"}'] == 1  # None skipped
    assert v['parley_stage_seconds_count{stage="asr"}'] == 1
    assert v['parley_stage_seconds_count{stage="queue"}'] == 1
    assert v['parley_stage_seconds_count{stage="mt"}'] == 1
    assert v['parley_stage_seconds_count{stage="whisper"}'] == 1
    assert v['parley_finals_total{type="translation"}'] == 2
    assert v['parley_errors_total{code="model_error"}'] == 1
    assert v['parley_rejections_total{code="unauthorized"}'] == 1
    assert v['parley_sessions_total{reason="stop"}'] == 1
    assert v["parley_audio_seconds_total"] == 2.5
    assert v["parley_active_sessions"] == 2 and v["parley_parked_sessions"] == 1
    assert v["parley_asr_queue_depth"] == 4 and v["parley_draining"] == 0
    assert v["parley_asr_workers"] == 2 and v["parley_asr_busy_workers"] == 1
    assert v['parley_mt_batches_total{model="zh-en"}'] == 3
    assert v['parley_mt_queued{model="zh-en"}'] == 2
    assert v["process_resident_memory_bytes"] > 1e6


def test_an_empty_server_renders_valid_text() -> None:
    check_exposition(ServerMetrics().render(snapshot(draining=True)))
