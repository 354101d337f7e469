"""Where the bridge delivers captions: Zoom's closed-caption API, a webhook, a WebVTT file.

Each sink takes events without waiting (`offer`) into its own bounded queue
and delivers them from its own task, so a slow or failing endpoint never
holds up the audio or the other sinks. HTTP deliveries have a timeout and are
retried on 408, 429, 5xx and network errors with exponential backoff; other
answers (400, 403...) are not retried (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from clients.python.parley_client.captions import CaptionTrack, format_vtt

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Caption:
    """One final caption of one track (None: the transcript; else a translation language)."""

    lang: str | None
    text: str
    start: float
    end: float
    event: Mapping[str, Any]

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Caption | None:
        kind = event.get("type")
        if kind not in ("transcript", "translation") or not event.get("final"):
            return None
        text = str(event.get("text") or "").strip()
        if not text:
            return None
        lang = str(event.get("lang")) if kind == "translation" else None
        return cls(lang, text, float(event.get("start") or 0), float(event.get("end") or 0), event)


class CaptionSink(Protocol):
    name: str

    def offer(self, event: Mapping[str, Any]) -> None: ...
    async def aclose(self, timeout: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float = 5.0
    attempts: int = 6
    backoff_s: float = 0.25
    backoff_max_s: float = 4.0


class HttpError(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRY_STATUS


def _post_blocking(url: str, body: bytes, content_type: str, timeout: float) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HttpError(None, f"{type(exc).__name__}: {exc}") from None


async def post_with_retries(
    url: str, body: bytes, content_type: str, policy: RetryPolicy, what: str
) -> bool:
    """POST until a 2xx answer, a non-retryable answer, or the attempts run out."""
    delay = policy.backoff_s
    for attempt in range(1, policy.attempts + 1):
        try:
            await asyncio.to_thread(_post_blocking, url, body, content_type, policy.timeout_s)
            return True
        except HttpError as exc:
            if not exc.retryable or attempt == policy.attempts:
                log.warning("%s: giving up after %d attempt(s): %s", what, attempt, exc)
                return False
            log.info("%s: attempt %d failed (%s), retrying in %.2f s", what, attempt, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, policy.backoff_max_s)
    return False


class _QueuedSink:
    """A bounded queue of captions delivered one at a time, in order, by a task."""

    name = "sink"

    def __init__(self, track: str | None, capacity: int = 1000) -> None:
        self.track = track
        self._queue: asyncio.Queue[Caption | None] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def offer(self, event: Mapping[str, Any]) -> None:
        caption = Caption.of(event)
        if caption is None or caption.lang != self.track:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sink-{self.name}")
        try:
            self._queue.put_nowait(caption)
        except asyncio.QueueFull:
            self.dropped += 1  # the endpoint is far behind: captions this old are useless
            log.warning("%s: queue full, caption dropped", self.name)

    async def _run(self) -> None:
        while (caption := await self._queue.get()) is not None:
            try:
                ok = await self.deliver(caption)
            except Exception:
                log.exception("%s: delivery failed", self.name)
                ok = False
            if ok:
                self.delivered += 1
            else:
                self.failed += 1

    async def deliver(self, caption: Caption) -> bool:
        raise NotImplementedError

    async def aclose(self, timeout: float) -> None:
        if self._task is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            log.warning("%s: %d captions not delivered at exit", self.name, self._queue.qsize())


class ZoomCaptionSink(_QueuedSink):
    """Zoom's closed-caption API: POST text/plain to the meeting's caption URL with
    `seq` and `lang` query parameters. `seq` goes up by one for each new caption and
    stays the same when a caption is retried."""

    name = "zoom"

    def __init__(self, url: str, *, lang: str = "en-US", track: str | None = None,
                 start_seq: int = 1, policy: RetryPolicy | None = None) -> None:
        super().__init__(track)
        self.url = url
        self.lang = lang
        self.next_seq = start_seq
        self.policy = policy or RetryPolicy()

    def url_for(self, seq: int) -> str:
        parts = urlsplit(self.url)
        extra = urlencode({"seq": seq, "lang": self.lang})
        query = f"{parts.query}&{extra}" if parts.query else extra
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    async def deliver(self, caption: Caption) -> bool:
        seq = self.next_seq
        self.next_seq += 1  # a new caption: the next one gets the next number, whatever happens
        return await post_with_retries(
            self.url_for(seq), caption.text.encode("utf-8"), "text/plain; charset=utf-8",
            self.policy, f"zoom caption seq {seq}",
        )


class WebhookSink(_QueuedSink):
    """POST each final caption as JSON to a URL."""

    name = "webhook"

    def __init__(self, url: str, *, track: str | None = None, room: str | None = None,
                 policy: RetryPolicy | None = None) -> None:
        super().__init__(track)
        self.url = url
        self.room = room
        self.policy = policy or RetryPolicy()
        self._count = 0

    async def deliver(self, caption: Caption) -> bool:
        self._count += 1
        body = {
            "room": self.room,
            "index": self._count,
            "lang": caption.lang,
            "text": caption.text,
            "start": caption.start,
            "end": caption.end,
            "session_id": caption.event.get("session_id"),
            "segment": caption.event.get("segment"),
        }
        return await post_with_retries(
            self.url, json.dumps(body, ensure_ascii=False).encode(), "application/json",
            self.policy, f"webhook caption {self._count}",
        )


class VttFileSink(_QueuedSink):
    """A WebVTT file, rewritten (atomically) after every caption."""

    name = "vtt"

    def __init__(self, path: Path, *, track: str | None = None) -> None:
        super().__init__(track)
        self.path = path
        self._captions = CaptionTrack()

    async def deliver(self, caption: Caption) -> bool:
        self._captions.add(caption.event)
        text = format_vtt(self._captions.cues(self.track))
        await asyncio.to_thread(_write_atomic, self.path, text)
        return True


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
