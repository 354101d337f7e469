"""`parley serve` flags that reach the config object (server/cli.py)."""

from __future__ import annotations

import pytest

from server.asr.batched import BatchOptions
from server.asr.whisper import AsrOptions
from server.cli import build_parser, config_from_args, main, with_window_budget, with_windows
from server.config import ServerConfig
from server.errors import ParleyError


def serve_config(*flags: str) -> ServerConfig:
    return config_from_args(build_parser().parse_args(["serve", *flags]))


def test_asr_windows_reach_the_batched_engine_options() -> None:
    assert serve_config().batch.window_buckets_s == (20.0, 30.0)
    assert serve_config().batch.crowded_window_buckets_s == (10.0, 15.0, 20.0, 30.0)
    assert serve_config("--asr-windows", "20").batch.window_buckets_s == (20.0, 30.0)
    assert serve_config("--asr-windows", " 15, 20 ,30").batch.window_buckets_s == (15.0, 20.0, 30.0)


def test_asr_windows_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ASR_WINDOWS", "20,30")
    assert serve_config().batch.window_buckets_s == (20.0, 30.0)
    assert serve_config("--asr-windows", "10").batch.window_buckets_s == (10.0, 30.0)  # flag wins


def test_crowded_windows_can_be_set_or_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = serve_config("--asr-crowded-windows", "15,30").batch
    assert batch.crowded_window_buckets_s == (15.0, 30.0)
    assert batch.window_buckets_s == (20.0, 30.0)
    assert serve_config("--asr-crowded-windows", "off").batch.crowded_window_buckets_s is None
    monkeypatch.setenv("PARLEY_ASR_CROWDED_WINDOWS", "OFF")
    assert serve_config().batch.crowded_window_buckets_s is None


def test_the_window_budget_can_be_set_or_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert serve_config().batch.alone_encode_budget_s == BatchOptions().alone_encode_budget_s
    assert serve_config("--asr-window-budget", "0.3").batch.alone_encode_budget_s == 0.3
    monkeypatch.setenv("PARLEY_ASR_WINDOW_BUDGET", "off")
    assert serve_config().batch.alone_encode_budget_s is None


@pytest.mark.parametrize("raw", ["soon", "-1", ""])
def test_a_bad_window_budget_is_a_clear_error(raw: str) -> None:
    with pytest.raises(ParleyError) as exc:
        with_window_budget(BatchOptions(), raw)
    assert exc.value.message.startswith(f"--asr-window-budget {raw!r}:")


@pytest.mark.parametrize("raw", ["10,x", "31", ""])
def test_bad_crowded_windows_are_a_clear_error(raw: str) -> None:
    with pytest.raises(ParleyError) as exc:
        with_windows(BatchOptions(), "20", raw)
    assert exc.value.message.startswith(f"--asr-crowded-windows {raw!r}:")


def test_only_the_crowded_windows_can_be_off() -> None:
    with pytest.raises(ParleyError, match="--asr-windows 'off'"):
        with_windows(BatchOptions(), "off")


@pytest.mark.parametrize(
    ("raw", "why"),
    [("10,abc", "could not convert"), ("45", "outside"), ("", "at least one"), ("10,10", "repeat")],
)
def test_bad_asr_windows_are_a_clear_error(raw: str, why: str) -> None:
    with pytest.raises(ParleyError) as exc:
        with_windows(BatchOptions(), raw)
    assert exc.value.message.startswith(f"--asr-windows {raw!r}:") and why in exc.value.message


def test_asr_workers_and_threads_reach_the_asr_options(monkeypatch: pytest.MonkeyPatch) -> None:
    default = serve_config().asr
    assert (default.workers, default.cpu_threads) == (AsrOptions.workers, AsrOptions.cpu_threads)
    asr = serve_config("--asr-workers", "3", "--threads", "1").asr
    assert (asr.workers, asr.cpu_threads) == (3, 1)
    monkeypatch.setenv("PARLEY_ASR_WORKERS", "4")
    assert serve_config().asr.workers == 4
    assert serve_config("--asr-workers", "2").asr.workers == 2  # flag wins


@pytest.mark.parametrize(("flags", "why"), [(["--asr-workers", "-1"], "workers must be >= 0"),
                                            (["--threads", "-1"], "cpu_threads must be >= 0")])
def test_bad_asr_workers_or_threads_are_a_clear_error(flags: list[str], why: str) -> None:
    with pytest.raises(ParleyError) as exc:
        serve_config(*flags)
    assert exc.value.message.startswith("--threads / --asr-workers:") and why in exc.value.message


def test_a_wrong_mt_model_is_refused_before_the_asr_model_loads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import services

    def no_loading(*_: object) -> None:
        raise AssertionError("the ASR model loaded before the MT names were resolved")

    monkeypatch.setattr(services, "resolve_asr", lambda spec: spec)
    monkeypatch.setattr(services, "WhisperEngine", no_loading)
    assert main(["serve", "--mt-model", "no-such-mt"]) == 2
    assert "unknown translation model 'no-such-mt'" in capsys.readouterr().err
