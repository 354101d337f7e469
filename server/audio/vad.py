"""Silero VAD (v6, the ONNX export shipped in the faster-whisper wheel), streaming.

`SileroVadModel` is one onnxruntime session per process (1 intra-op thread),
shared by all sessions; `InferenceSession.run` is thread-safe, so any thread
may call it. `VadStream` is the per-session, sans-I/O part: it keeps the
samples of an incomplete window, the 64-sample context and the LSTM state
(h, c), and returns one speech probability per completed 512-sample (32 ms)
window.

Model layout (as faster_whisper.vad.SileroVADModel uses it): input
[seq_len, 64 + 512] float32, where row i is the last 64 samples of window
i-1 (zeros before the first window) followed by window i; h and c are
[1, 1, 128] and the rows are run as a *sequence* through the LSTM (row i sees
the state left by row i-1). So feeding windows one call at a time, carrying
h, c and the context, gives exactly the probabilities of one call over the
whole signal (verified in tests/unit/audio/test_vad.py). One caveat of the
batch call in faster-whisper: it zeroes the last 64 samples of the final
window in place, so only the final window of a batch call differs.

Batching several sessions into one call is not possible with this export:
h/c have a fixed batch of 1 and the first input axis is time, not sessions.
A session's windows completed by one `feed()` do go in one call, which is
what makes the per-window cost small when audio arrives in larger chunks.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from server.errors import ModelError

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 512  # 32 ms at 16 kHz
CONTEXT_SAMPLES = 64
SAMPLE_RATE = 16000
STATE_SHAPE = (1, 1, 128)
#: Windows per onnxruntime call when a long stretch arrives at once (bounds the
#: temporary input array; faster-whisper uses 10,000).
MAX_WINDOWS_PER_CALL = 1024

Probs = npt.NDArray[np.float32]
Samples = npt.NDArray[np.float32]


def default_model_path() -> Path:
    """`silero_vad_v6.onnx` inside the installed faster-whisper package."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:
        raise ModelError("Silero VAD needs the faster-whisper package") from exc
    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class SileroVadModel:
    """The Silero VAD network; one per process, safe to call from any thread."""

    window_samples = WINDOW_SAMPLES
    context_samples = CONTEXT_SAMPLES
    sample_rate = SAMPLE_RATE

    _shared: SileroVadModel | None = None
    _shared_lock = threading.Lock()

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        if not self.path.is_file():
            raise ModelError(f"Silero VAD model not found at {self.path}")
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelError("Silero VAD needs the onnxruntime package") from exc
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.enable_cpu_mem_arena = False  # tiny tensors; the arena only grows RSS
        opts.log_severity_level = 4
        try:
            self._session: Any = onnxruntime.InferenceSession(
                str(self.path), providers=["CPUExecutionProvider"], sess_options=opts
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load Silero VAD model {self.path}: {exc}") from exc
        logger.info("loaded Silero VAD from %s", self.path)

    @classmethod
    def shared(cls) -> SileroVadModel:
        """The process-wide instance, loaded on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def run(
        self,
        inputs: npt.NDArray[np.float32],
        h: npt.NDArray[np.float32],
        c: npt.NDArray[np.float32],
    ) -> tuple[Probs, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """One call: inputs [n, 576] (context + window rows, in time order) and the
        LSTM state -> (n probabilities, new h, new c)."""
        probs, h_out, c_out = self._session.run(None, {"input": inputs, "h": h, "c": c})
        return (
            np.asarray(probs, dtype=np.float32).reshape(-1),
            np.asarray(h_out, dtype=np.float32),
            np.asarray(c_out, dtype=np.float32),
        )

    def stream(self) -> VadStream:
        return VadStream(self)


class VadStream:
    """One session's VAD: 16 kHz float32 samples in, one probability per 32 ms out."""

    window_samples = WINDOW_SAMPLES

    def __init__(self, model: SileroVadModel) -> None:
        self._model = model
        self.reset()

    def reset(self) -> None:
        """Forget everything: as if the stream started now."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)
        #: Windows scored so far: probability k covers samples [512 k, 512 (k + 1)).
        self.windows_done = 0

    def reset_state(self) -> None:
        """Forget the recurrent state but keep the window alignment.

        Silero's state can drift into answering ~0 for every window after long
        streams (seen on real speech: 14 s of speech scored 0.00 after one
        utterance, 0.6 once reset), so callers reset it at utterance ends.
        """
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)

    @property
    def pending_samples(self) -> int:
        """Samples waiting for their window to complete (< 512)."""
        return len(self._rest)

    def feed(self, samples: npt.ArrayLike) -> Probs:
        """Score every window `samples` completes; returns their probabilities."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"VadStream.feed takes 1-D samples, got shape {x.shape}")
        if self._rest.size:
            x = np.concatenate([self._rest, x])
        n = len(x) // WINDOW_SAMPLES
        if n == 0:
            self._rest = x.copy()
            return np.zeros(0, dtype=np.float32)
        windows = x[: n * WINDOW_SAMPLES].reshape(n, WINDOW_SAMPLES)
        inputs = np.empty((n, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        inputs[:, CONTEXT_SAMPLES:] = windows
        inputs[0, :CONTEXT_SAMPLES] = self._context
        inputs[1:, :CONTEXT_SAMPLES] = windows[:-1, -CONTEXT_SAMPLES:]
        out: list[Probs] = []
        for i in range(0, n, MAX_WINDOWS_PER_CALL):
            probs, self._h, self._c = self._model.run(
                inputs[i : i + MAX_WINDOWS_PER_CALL], self._h, self._c
            )
            out.append(probs)
        self._context = windows[-1, -CONTEXT_SAMPLES:].copy()
        self._rest = x[n * WINDOW_SAMPLES :].copy()
        self.windows_done += n
        return out[0] if len(out) == 1 else np.concatenate(out)
