"""Real browser output: Chromium's MediaRecorder (audio/webm;codecs=opus) records real
speech in 250 ms slices; every slice is fed to the decoder as it would arrive over
the WebSocket. Checks the decoder keeps up slice by slice and gets the speech back."""

from __future__ import annotations

import base64
import io
import shutil
import wave
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import sync_playwright

from server.audio.decode import AudioSpec, make_decoder

SHORT_WAV = Path(
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
)

RECORD_JS = """
async ([b64, rate]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const samples = new Float32Array(bytes.buffer);
  const ctx = new AudioContext({sampleRate: 48000});
  await ctx.resume();
  const buffer = ctx.createBuffer(1, samples.length, rate);
  buffer.copyToChannel(samples, 0);
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  const dest = ctx.createMediaStreamDestination();
  source.connect(dest);
  const recorder = new MediaRecorder(dest.stream, {mimeType: 'audio/webm;codecs=opus'});
  const slices = [];
  recorder.ondataavailable = (e) => slices.push(e.data);
  const stopped = new Promise(r => recorder.onstop = r);
  recorder.start(250);
  source.start();
  await new Promise(r => source.onended = r);
  await new Promise(r => setTimeout(r, 300));
  recorder.stop();
  await stopped;
  const out = [];
  for (const blob of slices) {
    const u8 = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < u8.length; i++) s += String.fromCharCode(u8[i]);
    out.push(btoa(s));
  }
  return {mime: recorder.mimeType, slices: out};
}
"""


def _read_wav(path: Path) -> npt.NDArray[np.float32]:
    with wave.open(str(path)) as w:
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def _record_in_chromium(samples: npt.NDArray[np.float32]) -> tuple[str, list[bytes]]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page()
            result = page.evaluate(RECORD_JS, [base64.b64encode(samples.tobytes()).decode(), 16000])
        finally:
            browser.close()
    return result["mime"], [base64.b64decode(s) for s in result["slices"]]


def _lag_and_correlation(
    signal: npt.NDArray[np.float32], reference: npt.NDArray[np.float32]
) -> tuple[int, float]:
    n = len(signal) + len(reference)
    xc = np.fft.irfft(np.fft.rfft(signal, n) * np.conj(np.fft.rfft(reference, n)), n)
    lag = int(np.argmax(xc[: len(signal)]))
    m = min(len(signal) - lag, len(reference))
    return lag, float(np.corrcoef(signal[lag : lag + m], reference[:m])[0, 1])


@pytest.fixture(scope="module")
def recording() -> tuple[str, list[bytes]]:
    return _record_in_chromium(_read_wav(SHORT_WAV))


def test_chromium_mediarecorder_webm_decodes_slice_by_slice(
    recording: tuple[str, list[bytes]],
) -> None:
    mime, slices = recording
    assert mime.startswith("audio/webm")
    assert len(slices) >= 8  # ~3.3 s in 250 ms slices
    original = _read_wav(SHORT_WAV)

    decoder = make_decoder(AudioSpec.parse({"encoding": "webm"}))
    outs = [decoder.feed(s) for s in slices]
    outs.append(decoder.flush())
    out = np.concatenate(outs)

    # Incremental: the first slice already yields audio, and every slice after it
    # (all carry ~250 ms) yields some.
    assert len(outs[0]) > 0
    assert all(len(o) > 0 for o in outs[1:-2])

    # Same length as libavcodec's own decoding of the whole recording (+-60 ms) ...
    with av.open(io.BytesIO(b"".join(slices)), "r") as container:
        reference_48k = sum(int(frame.samples) for frame in container.decode(audio=0))
    assert abs(len(out) - reference_48k / 3) <= 0.060 * 16000
    # ... and the recording holds the speech: nearly all of it, well correlated.
    lag, r = _lag_and_correlation(out, original)
    assert lag < 0.5 * 16000
    assert len(out) - lag > 0.9 * len(original)
    assert r > 0.9
