"""`parley serve` flags that reach the config object (server/cli.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from server.asr.batched import BatchOptions
from server.asr.whisper import AsrOptions
from server.cli import (
    build_parser,
    check_listenable,
    config_from_args,
    main,
    with_window_budget,
    with_windows,
)
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


def test_the_beam_widths_reach_the_batched_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = serve_config().batch
    assert (batch.beam_size, batch.crowded_beam_size) == (3, 1)
    batch = serve_config("--asr-beam", "5", "--asr-crowded-beam", "2").batch
    assert (batch.beam_size, batch.crowded_beam_size) == (5, 2)
    monkeypatch.setenv("PARLEY_ASR_BEAM", "1")
    assert serve_config().batch.beam_size == 1


@pytest.mark.parametrize("raw", ["0", "-2", "wide"])
def test_a_bad_beam_is_a_usage_error(raw: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        serve_config("--asr-beam", raw)
    assert exc.value.code == 2
    assert "--asr-beam" in capsys.readouterr().err


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


@pytest.mark.parametrize(("flags", "says"), [
    (["--port", "65536"], "argument --port: must be 0-65535, not 65536"),
    (["--port", "80a"], "argument --port: not a whole number: '80a'"),
    (["--max-sessions", "0"], "argument --max-sessions: must be > 0, not 0"),
    (["--max-frame-bytes", "-1"], "argument --max-frame-bytes: must be > 0, not -1"),
    (["--idle-timeout-s", "0"], "argument --idle-timeout-s: must be > 0, not 0"),
    (["--message-rate", "fast"], "argument --message-rate: not a number: 'fast'"),
    (["--message-rate", "nan"], "argument --message-rate: not a number: 'nan'"),
    (["--resume-grace-s", "-5"], "argument --resume-grace-s: must be >= 0, not -5"),
])
def test_an_out_of_range_flag_is_refused_by_name(
    flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve", *flags])
    assert exc.value.code == 2
    assert says in capsys.readouterr().err


def test_zero_is_a_port_and_a_grace() -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--resume-grace-s", "0"])
    assert (args.port, args.resume_grace_s) == (0, 0.0)


@pytest.mark.parametrize(("env", "value", "says"), [
    ("PARLEY_PORT", "abc", "argument --port: from PARLEY_PORT: not a whole number: 'abc'"),
    ("PARLEY_MAX_SESSIONS", "-3", "argument --max-sessions: from PARLEY_MAX_SESSIONS: must be > 0"),
    ("PARLEY_ASR_ENGINE", "fast", "from PARLEY_ASR_ENGINE: 'fast' is not one of batched, whisper"),
])
def test_a_bad_variable_is_refused_by_its_name(
    env: str, value: str, says: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve"])
    assert exc.value.code == 2
    assert says in capsys.readouterr().err


def test_a_variable_is_converted_and_a_flag_wins_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "9000")
    assert build_parser().parse_args(["serve"]).port == 9000
    assert build_parser().parse_args(["serve", "--port", "9001"]).port == 9001
    monkeypatch.setenv("PARLEY_PORT", "abc")  # a flag given: the variable is not read
    assert build_parser().parse_args(["serve", "--port", "9001"]).port == 9001


def test_a_bad_serve_variable_does_not_break_other_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_PORT", "abc")
    assert build_parser().parse_args(["models", "list"]).command == "models"


@pytest.fixture
def models_must_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from server import services

    def no_loading(*_: object) -> None:
        raise AssertionError("the models loaded for settings that cannot be served")

    monkeypatch.setattr(services.Services, "load", no_loading)


@pytest.mark.usefixtures("models_must_not_load")
def test_a_taken_port_is_refused_before_the_models_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ParleyError, match="Address already in use"):
            check_listenable("127.0.0.1", port)
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"parley: error: cannot listen on 127.0.0.1:{port}: Address already in use" in err


def test_a_free_port_or_port_zero_passes_the_probe() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    check_listenable("127.0.0.1", port)
    check_listenable("127.0.0.1", 0)


def test_an_address_not_of_this_machine_is_refused() -> None:
    with pytest.raises(ParleyError, match="cannot listen on 192.0.2.1:8765"):
        check_listenable("192.0.2.1", 8765)  # TEST-NET-1: never a local address


def test_a_config_file_sets_its_keys_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "parley.toml"
    path.write_text('[server]\nmt_models = ["zh-en", "/m/nl-en"]\n'
                    'mqtt_url = "mqtt://broker:1883"\nreplica_id = "a"\n')
    cfg = serve_config("--config", str(path))
    assert (cfg.mt_models, cfg.mqtt_url, cfg.replica_id) == (
        ("zh-en", "/m/nl-en"), "mqtt://broker:1883", "a")
    cfg = serve_config("--config", str(path), "--mt-model", "x", "--replica-id", "b")
    assert (cfg.mt_models, cfg.replica_id) == (("x",), "b")


@pytest.mark.parametrize(("text", "says"), [
    ('[server]\nmt_modls = ["zh-en"]\n', "unknown [server] key(s) mt_modls; known: mt_models"),
    ("[server]\nmt_models = 3\n", "[server] mt_models must be a list of strings, not 3"),
    ("[server]\nreplica_id = 7\n", "[server] replica_id must be a string, not 7"),
    ("server = 1\n", "'server' must be a table"),
    ("not toml [", "not valid TOML"),
])
def test_a_bad_config_file_is_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "parley.toml"
    path.write_text(text)
    with pytest.raises(ParleyError) as exc:
        serve_config("--config", str(path))
    assert exc.value.message.startswith(f"--config {path}: ")
    assert says in exc.value.message


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ParleyError, match="No such file or directory"):
        serve_config("--config", str(tmp_path / "missing.toml"))


@pytest.mark.parametrize(("flags", "says"), [
    (["--mqtt-url", "http://broker"], "MQTT URL must start with mqtt:// or mqtts://"),
    (["--allowed-origins", "captions.example.com"], "is not an Origin such as"),
])
@pytest.mark.usefixtures("models_must_not_load")
def test_bad_mqtt_or_origin_settings_are_refused_before_the_models_load(
    flags: list[str], says: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--port", "0", *flags]) == 2
    assert says in capsys.readouterr().err


def test_the_cluster_key_comes_from_its_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PARLEY_CLUSTER_KEY", raising=False)
    monkeypatch.delenv("PARLEY_CLUSTER_KEY_FILE", raising=False)
    assert serve_config().security.cluster_key is None
    monkeypatch.setenv("PARLEY_CLUSTER_KEY", " from-the-environment-0123 ")
    assert serve_config().security.cluster_key == "from-the-environment-0123"
    path = tmp_path / "cluster.key"
    path.write_text("from-the-file-0123456789\n")
    cfg = serve_config("--cluster-key-file", str(path))
    assert cfg.security.cluster_key == "from-the-file-0123456789"  # the file wins
    assert "from-the-file" not in repr(cfg)  # never in a log line of the config


@pytest.mark.parametrize(("content", "says"), [
    ("short", "at least 16 characters"),
    ("", "is empty"),
    (None, "No such file"),
])
@pytest.mark.usefixtures("models_must_not_load")
def test_a_bad_cluster_key_is_refused_before_the_models_load(
    tmp_path: Path, content: str | None, says: str, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "cluster.key"
    if content is not None:
        path.write_text(content)
    assert main(["serve", "--port", "0", "--cluster-key-file", str(path)]) == 2
    assert says in capsys.readouterr().err
