"""Window choice and feature padding for the batched engine."""

from __future__ import annotations

import numpy as np
import pytest

from server.asr.features import (
    MelExtractor,
    choose_window_s,
    content_frames,
    pad_features,
    stack_window,
    token_budget,
    validate_buckets,
    window_frames,
)

BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0)


@pytest.mark.parametrize(
    ("audio_s", "margin", "want"),
    [
        (0.0, 0.0, 5.0),
        (2.0, 1.0, 5.0),
        (4.0, 1.0, 5.0),  # exactly fits
        (4.01, 1.0, 10.0),
        (7.0, 3.0, 10.0),
        (7.5, 3.0, 15.0),
        (12.0, 3.0, 15.0),
        (17.5, 3.0, 30.0),
        (27.0, 3.0, 30.0),
    ],
)
def test_smallest_bucket_holding_audio_and_margin(
    audio_s: float, margin: float, want: float
) -> None:
    assert choose_window_s(audio_s, BUCKETS, margin) == want


def test_no_bucket_when_audio_and_margin_exceed_the_largest() -> None:
    assert choose_window_s(28.0, BUCKETS, 3.0) is None
    assert choose_window_s(31.0, BUCKETS, 0.0) is None


def test_negative_audio_length_is_an_error() -> None:
    with pytest.raises(ValueError):
        choose_window_s(-1.0, BUCKETS, 0.0)


def test_buckets_are_sorted_and_checked() -> None:
    assert validate_buckets([20, 10, 15]) == (10.0, 15.0, 20.0)
    for bad in ([], [0], [31], [10, 10], [10.005]):
        with pytest.raises(ValueError):
            validate_buckets(bad)


def test_frames() -> None:
    assert window_frames(10.0) == 1000
    assert window_frames(30.0) == 3000
    assert content_frames(16000) == 100
    assert content_frames(16159) == 100


def test_pad_features_pads_with_zeros_and_trims() -> None:
    f = np.arange(12, dtype=np.float32).reshape(2, 6) + 1
    padded = pad_features(f, 10)
    assert padded.shape == (2, 10)
    assert np.array_equal(padded[:, :6], f)
    assert not padded[:, 6:].any()
    assert np.array_equal(pad_features(f, 4), f[:, :4])


def test_stack_window_is_contiguous_float32() -> None:
    a = np.ones((80, 300), np.float32)
    b = np.ones((80, 700), np.float32)
    batch = stack_window([a, b], 1000)
    assert batch.shape == (2, 80, 1000)
    assert batch.dtype == np.float32 and batch.flags.c_contiguous
    assert batch[0, :, 300:].sum() == 0 and batch[1, :, :700].all()
    with pytest.raises(ValueError):
        stack_window([], 1000)


def test_token_budget_grows_with_audio_and_is_capped() -> None:
    assert token_budget(0.0, 8.0, 10, 224) == 10
    assert token_budget(2.0, 8.0, 10, 224) == 26
    assert token_budget(2.01, 8.0, 10, 224) == 27  # rounds up
    assert token_budget(30.0, 8.0, 10, 224) == 224


def test_mel_extractor_matches_faster_whisper_content_frames() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    mel = MelExtractor(FeatureExtractor())
    audio = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    features = mel(audio)
    assert mel.n_mels == 80
    # faster-whisper: content_frames = features.shape[-1] - 1 = samples // hop
    assert features.shape == (80, content_frames(len(audio)))
    assert features.dtype == np.float32
