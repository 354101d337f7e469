"""Runs recognition off the event loop, for every session, on one shared model.

All sessions submit here; one worker thread owns the model (CTranslate2 uses
the cores inside a call). Requests run in arrival order; each session keeps at
most one decode in flight (the policy's invariant), so FIFO is also fair.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from server.asr.whisper import Decode, Task, WhisperEngine
from server.errors import ModelError
from server.streaming.events import AsrRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timed:
    decode: Decode
    queue_s: float  # waiting for the worker
    asr_s: float  # in the model


class AsrScheduler:
    def __init__(self, engine: WhisperEngine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-asr")
        self._pending = 0

    @property
    def depth(self) -> int:
        """Requests submitted and not yet finished."""
        return self._pending

    async def transcribe(self, request: AsrRequest, task: Task = "transcribe") -> Timed:
        loop = asyncio.get_running_loop()
        submitted = time.perf_counter()
        started: list[float] = []

        def work() -> Decode:
            started.append(time.perf_counter())
            return self.engine.transcribe(request, task)

        self._pending += 1
        try:
            decode = await loop.run_in_executor(self._executor, work)
        except ModelError:
            raise
        except Exception as exc:
            log.exception("ASR decode failed")
            raise ModelError(f"speech recognition failed: {type(exc).__name__}") from exc
        finally:
            self._pending -= 1
        queue_s = (started[0] if started else submitted) - submitted
        return Timed(decode=decode, queue_s=queue_s, asr_s=decode.asr_s)

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
