import json
from pathlib import Path

import pytest

from benchmarks.cli import guarded
from benchmarks.policy_replay import clip_orders, main, numbered_orders, paired_change, read_runs


def test_the_first_order_is_as_given_and_the_others_are_fixed_shuffles() -> None:
    clips = list(range(22))
    orders = clip_orders(clips, 3)
    assert orders[0] == clips
    assert all(sorted(o) == clips for o in orders)
    assert orders[1] != clips and orders[2] != clips and orders[1] != orders[2]
    assert clip_orders(clips, 3) == orders  # the same every run: replays stay comparable


def test_at_least_one_order() -> None:
    with pytest.raises(ValueError):
        clip_orders([1, 2], 0)


def test_held_out_orders_are_the_same_shuffles_numbered_as_in_a_full_run() -> None:
    clips = list(range(10))
    held = numbered_orders(clips, 2, first=3)
    assert [n for n, _ in held] == [3, 4]
    assert [o for _, o in held] == clip_orders(clips, 5)[3:]
    assert numbered_orders(clips, 2) == list(enumerate(clip_orders(clips, 2)))


def test_a_negative_first_order_is_refused_before_loading_a_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-model", "--first-order", "-1"])
    assert exc.value.code == 2
    assert "--first-order must be >= 0" in capsys.readouterr().err


def test_batch_options_without_the_batched_engine_are_refused_before_loading_a_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-model", "--batch", '{"window_margin_s": 5}'])
    assert exc.value.code == 2
    assert "--batch needs --engine batched" in capsys.readouterr().err


def _run(order: int, pause: float, errors: int) -> dict[str, object]:
    return {"order": order, "pause_s": pause, "words": 392, "streaming_errors": errors,
            "streaming_wer": errors / 392}


def test_paired_change_pairs_layouts_and_gives_mean_sd_and_t() -> None:
    base = [_run(0, 0.6, 50), _run(0, 0.8, 60), _run(1, 0.6, 40)]
    runs = [_run(0, 0.8, 58), _run(0, 0.6, 46), _run(1, 0.6, 40), _run(2, 0.6, 99)]
    change = paired_change(base, runs)
    assert change["layouts"] == 3  # order 2 has no partner
    assert change["per_layout"] == [-2, -4, 0]
    assert change["total"] == -6 and change["mean"] == -2.0 and change["sd"] == 2.0
    assert change["t"] == round(-2.0 / (2.0 / 3 ** 0.5), 2)


def test_a_base_saved_before_error_counts_is_read_by_its_rate(tmp_path: Path) -> None:
    saved = tmp_path / "main.jsonl"
    lines = [{"order": 0, "pause_s": 0.6, "streaming_wer": 0.1505}, {"model": "tiny.en", "ratio": 1.1}]
    saved.write_text("\n".join(json.dumps(x) for x in lines) + "\n", "utf-8")
    base = read_runs(saved)
    assert len(base) == 1  # the summary line is not a layout
    change = paired_change(base, [_run(0, 0.6, 55)])
    assert change["per_layout"] == [round(55 - 0.1505 * 392, 1)]
    assert change["t"] is None  # one layout has no spread


def test_a_missing_compare_file_is_refused_before_loading_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-model", "--compare", str(tmp_path / "none.jsonl")])
    assert exc.value.code == 2
    assert "--compare" in capsys.readouterr().err


def test_a_base_with_error_counts_alone_is_paired() -> None:
    base = [{"order": 0, "pause_s": 0.6, "words": 392, "streaming_errors": 59}]
    assert paired_change(base, [_run(0, 0.6, 55)])["per_layout"] == [-4]


@pytest.mark.parametrize(("argv", "says"), [
    (["tiny.en", '{"bogus": 1}'], "options: PolicyOptions has no field bogus; fields: agreement_n"),
    (["tiny.en", "{bad json"], "options: not JSON"),
    (["tiny.en", "[1]"], "options: a JSON object of PolicyOptions fields"),
    (["tiny.en", "--engine", "batched", "--batch", '{"window_margin_s": 40}'],
     "--batch: window_margin_s must be in [0, 30)"),
])
def test_bad_overrides_are_a_usage_error_before_any_model_loads(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert says in capsys.readouterr().err


def test_an_unknown_model_is_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["policy_replay", "no-such-model"])
    assert guarded(main, "python -m benchmarks.policy_replay") == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks.policy_replay: error: unknown speech recognition model")
    assert "Traceback" not in err


def test_clip_bootstrap_sums_each_clip_over_the_shared_layouts() -> None:
    from benchmarks.policy_replay import clip_bootstrap

    def run(order: int, clips: dict[str, list[int]]) -> dict[str, object]:
        return {"order": order, "pause_s": 0.8, "clips": clips}

    clips = {f"c{k}": [2 + k % 3, 1, 10] for k in range(40)}  # streaming 2-4, offline 1
    runs = [run(0, clips), run(1, clips)]
    out = clip_bootstrap(runs, runs, 0, 1)
    assert out is not None and out["changed"] is True
    assert out["words"] == 800  # 40 clips x 10 words x 2 layouts
    assert clip_bootstrap(runs, runs, 0, 0)["changed"] is False  # type: ignore[index]
    assert clip_bootstrap([{"order": 0, "pause_s": 0.8}], runs, 0, 1) is None
