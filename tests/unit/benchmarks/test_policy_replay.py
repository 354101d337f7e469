import pytest

from benchmarks.policy_replay import clip_orders, main


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


def test_batch_options_without_the_batched_engine_are_refused_before_loading_a_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-model", "--batch", '{"window_margin_s": 5}'])
    assert exc.value.code == 2
    assert "--batch needs --engine batched" in capsys.readouterr().err
