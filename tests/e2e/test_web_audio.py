"""The AudioWorklet downsampler (clients/web/pcm-worklet.js) in the real browser:
tones rendered through it in an OfflineAudioContext at common device rates."""

from __future__ import annotations

import itertools
import math

import pytest

from tests.e2e.conftest import WebPage, WebServer

RENDER_JS = """
async ([rate, freq, seconds]) => {
  const ctx = new OfflineAudioContext(1, Math.round(rate * seconds), rate);
  await ctx.audioWorklet.addModule('/pcm-worklet.js');
  const node = new AudioWorkletNode(ctx, 'pcm16k', {processorOptions: {frameMs: 20}});
  const frames = [];
  let info = null;
  node.port.onmessage = (e) => e.data.type === 'frame' ? frames.push(e.data) : (info = e.data);
  const osc = new OscillatorNode(ctx, {frequency: freq});
  const gain = new GainNode(ctx, {gain: 0.5});
  osc.connect(gain).connect(node).connect(ctx.destination);
  osc.start();
  await ctx.startRendering();
  await new Promise((r) => setTimeout(r, 200));  // let the last port messages arrive
  const pcm = frames.flatMap((f) => Array.from(new Int16Array(f.pcm)));
  return {info, indexes: frames.map((f) => f.index), sizes: frames.map((f) => f.pcm.byteLength), pcm};
}
"""


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_worklet_resamples_to_16k_frames_and_filters_aliases(
    web_page: WebPage, web_server: WebServer, rate: int
) -> None:
    page = web_page.page
    page.goto(web_server.url + "/")
    out = page.evaluate(RENDER_JS, [rate, 440, 1.0])
    assert out["info"] == {
        "type": "info",
        "inputRate": rate,
        "outputRate": 16000,
        "frameSamples": 320,
    }
    assert set(out["sizes"]) == {640}  # 20 ms of int16 at 16 kHz
    assert out["indexes"] == [320 * i for i in range(len(out["indexes"]))]
    assert 15000 <= len(out["pcm"]) <= 16000  # one second in, about 16,000 samples out
    steady = out["pcm"][800:-800]
    assert abs(rms(steady) - 0.5 / math.sqrt(2)) < 0.01  # a 440 Hz tone passes at full level
    # Zero crossings: still 440 Hz after resampling.
    crossings = sum(1 for a, b in itertools.pairwise(steady) if a < 0 <= b)
    assert abs(crossings / (len(steady) / 16000) - 440) < 5

    if rate > 16000:
        # 11 kHz cannot be represented at 16 kHz: the low-pass must remove it, not fold it to 5 kHz.
        alias = page.evaluate(RENDER_JS, [rate, 11000, 1.0])
        level = rms(alias["pcm"][800:-800])
        assert level < 0.5 / math.sqrt(2) * 0.01, f"11 kHz leaks through at {level:.4f} (>-40 dB)"
    web_page.console.assert_clean()
