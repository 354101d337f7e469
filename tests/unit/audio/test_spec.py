from __future__ import annotations

import pytest

from server.audio.container import ContainerDecoder
from server.audio.decode import AudioSpec, Encoding, make_decoder
from server.audio.pcm import PcmDecoder
from server.errors import AudioError


def test_parse_the_protocol_example() -> None:
    spec = AudioSpec.parse({"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1})
    assert spec == AudioSpec("pcm_s16le", 16000, 1)
    assert not spec.is_container
    assert spec.bytes_per_second == 32000


def test_parse_pcm_f32_stereo_and_default_channels() -> None:
    assert AudioSpec.parse({"encoding": "pcm_f32le", "sample_rate": 48000, "channels": 2}) == (
        AudioSpec("pcm_f32le", 48000, 2)
    )
    assert AudioSpec.parse({"encoding": "pcm_s16le", "sample_rate": 8000}).channels == 1


@pytest.mark.parametrize("encoding", ["webm", "ogg"])
def test_containers_need_no_rate_or_channels(encoding: Encoding) -> None:
    spec = AudioSpec.parse({"encoding": encoding})
    assert spec.is_container and spec.encoding == encoding
    assert spec.bytes_per_second is None
    # Given anyway: range-checked, kept as information.
    assert AudioSpec.parse({"encoding": encoding, "sample_rate": 44100, "channels": 2}) == (
        AudioSpec(encoding, 44100, 2)
    )


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        (None, "audio must be an object"),
        (["pcm_s16le"], "got list"),
        ({}, "audio.encoding is required"),
        ({"encoding": "mp3", "sample_rate": 16000}, "audio.encoding must be one of"),
        ({"encoding": 5}, "got 5"),
        ({"encoding": "pcm_s16le"}, "audio.sample_rate is required for pcm_s16le"),
        (
            {"encoding": "pcm_s16le", "sample_rate": "abc"},
            "audio.sample_rate must be an integer between 8000 and 192000, got 'abc'",
        ),
        ({"encoding": "pcm_s16le", "sample_rate": 7999}, "got 7999"),
        ({"encoding": "pcm_s16le", "sample_rate": 192001}, "got 192001"),
        ({"encoding": "pcm_s16le", "sample_rate": 16000.0}, "got 16000.0"),
        ({"encoding": "pcm_s16le", "sample_rate": True}, "got True"),
        ({"encoding": "ogg", "sample_rate": 1}, "audio.sample_rate must be an integer"),
        (
            {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 0},
            "audio.channels must be an integer between 1 and 8, got 0",
        ),
        ({"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 9}, "got 9"),
        ({"encoding": "pcm_s16le", "sample_rate": 16000, "channels": "2"}, "got '2'"),
        (
            {"encoding": "pcm_s16le", "samplerate": 16000},
            "unknown field(s) 'samplerate'; allowed: encoding, sample_rate, channels",
        ),
    ],
)
def test_bad_specs_say_precisely_what_is_wrong(obj: object, fragment: str) -> None:
    with pytest.raises(AudioError) as info:
        AudioSpec.parse(obj)
    assert info.value.code == "bad_audio_format"
    assert fragment in info.value.message


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(AudioError) as info:
        AudioSpec("pcm_s16le", 500, 1)
    assert info.value.code == "bad_audio_format"
    with pytest.raises(AudioError):
        AudioSpec("flac", 16000, 1)  # type: ignore[arg-type]


def test_spec_is_frozen() -> None:
    spec = AudioSpec("pcm_s16le", 16000, 1)
    with pytest.raises(AttributeError):
        spec.sample_rate = 8000  # type: ignore[misc]


def test_make_decoder_picks_the_decoder_for_the_encoding() -> None:
    assert isinstance(make_decoder(AudioSpec("pcm_s16le", 16000, 1)), PcmDecoder)
    assert isinstance(make_decoder(AudioSpec("pcm_f32le", 44100, 2)), PcmDecoder)
    webm = make_decoder(AudioSpec("webm"))
    ogg = make_decoder(AudioSpec("ogg"))
    assert isinstance(webm, ContainerDecoder) and webm.kind == "webm"
    assert isinstance(ogg, ContainerDecoder) and ogg.kind == "ogg"
