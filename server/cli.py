"""`parley`: serve, transcribe, models. Every flag is also a PARLEY_* variable."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.config import Limits, ServerConfig
from server.errors import ParleyError

log = logging.getLogger(__name__)


def env_name(flag: str) -> str:
    return "PARLEY_" + flag.lstrip("-").replace("-", "_").upper()


def add(parser: argparse.ArgumentParser, flag: str, *, help: str, **kw: Any) -> None:
    """An option whose default comes from PARLEY_<FLAG> when that is set."""
    env = env_name(flag)
    raw = os.environ.get(env)
    if raw is not None:
        if kw.get("action") == "append":
            kw["default"] = [v.strip() for v in raw.split(",") if v.strip()]
        elif kw.get("action") == "store_true":
            kw["default"] = raw.lower() in ("1", "true", "yes", "on")
        else:
            kw["default"] = kw.get("type", str)(raw)
    shown = kw.get("default")
    parser.add_argument(flag, help=f"{help} [env {env}; default: {shown}]", **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley",
        description="Parley: real-time speech recognition and translation server.",
    )
    add(parser, "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="logging level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the streaming server",
                       description="Run the WebSocket/HTTP server (/v1/stream, /v1/listen, /, /healthz).")
    add(s, "--host", default="127.0.0.1", help="address to bind")
    add(s, "--port", type=int, default=8765, help="port (0: any free port)")
    add(s, "--asr-model", default="base",
        help="recognition model: a name from `parley models list`, a CTranslate2 dir, or a HF repo id")
    add(s, "--mt-model", action="append", default=None,
        help="translation model (repeatable; env: comma-separated): name, CT2 dir, or .argosmodel")
    add(s, "--no-mt", action="store_true", default=False, help="load no translation model")
    add(s, "--compute-type", default="int8", help="CTranslate2 compute type for both models")
    add(s, "--threads", type=int, default=0, help="CPU threads per model call (0: all cores)")
    add(s, "--max-sessions", type=int, default=Limits.max_sessions, help="concurrent speaker sessions")
    add(s, "--max-frame-bytes", type=int, default=Limits.max_frame_bytes, help="largest audio frame")
    add(s, "--config", type=Path, default=None, help="TOML file with [server] settings (flags win)")
    # [rooms/mqtt, issue 5]
    add(s, "--mqtt-url", default=None,
        help="MQTT broker for room captions and cross-replica rooms, e.g. mqtt://127.0.0.1:1883")
    add(s, "--replica-id", default="",
        help="this replica's id in MQTT topics and client id (empty: hostname-pid)")

    t = sub.add_parser("transcribe", help="offline transcription (and translation) of a file",
                       description="Transcribe a whole file with the same models: the accuracy ceiling.")
    t.add_argument("file", type=Path, help="audio file in any format FFmpeg reads")
    add(t, "--model", default="base", help="recognition model (name or path)")
    add(t, "--language", default=None, help="source language (default: detect)")
    add(t, "--translate-to", default=None, help="target language for translation")
    add(t, "--mt-model", action="append", default=None, help="translation model(s)")
    add(t, "--compute-type", default="int8", help="CTranslate2 compute type")
    add(t, "--json", action="store_true", default=False, help="print JSON with word timings")

    from server.models.cli import add_models_parser

    add_models_parser(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    file_cfg: dict[str, Any] = {}
    if args.config is not None:
        with open(args.config, "rb") as fh:
            file_cfg = tomllib.load(fh).get("server", {})
    base = ServerConfig()
    mt = args.mt_model if args.mt_model is not None else file_cfg.get("mt_models", list(base.mt_models))
    if args.no_mt:
        mt = []
    return replace(
        base,
        host=args.host,
        port=args.port,
        asr_model=args.asr_model,
        mt_models=tuple(mt),
        asr=replace(base.asr, compute_type=args.compute_type, cpu_threads=args.threads),
        mt_compute_type=args.compute_type,
        limits=replace(base.limits, max_sessions=args.max_sessions, max_frame_bytes=args.max_frame_bytes),
        log_level=args.log_level,
        mqtt_url=args.mqtt_url or file_cfg.get("mqtt_url"),  # [rooms/mqtt, issue 5]
        replica_id=args.replica_id or file_cfg.get("replica_id", ""),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # faster-whisper logs every call at INFO; keep its chatter out of the server log.
    logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.command == "serve":
            return _serve(config_from_args(args))
        if args.command == "transcribe":
            from server.transcribe import run_transcribe

            return run_transcribe(args)
        from server.models.cli import run_models

        return run_models(args)
    except ParleyError as exc:
        print(f"parley: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _serve(config: ServerConfig) -> int:
    from server.gateway import running
    from server.services import Services

    services = Services.load(config)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running(services) as server:
            print(f"parley: serving on http://{config.host}:{server.port} "
                  f"(stream: ws://{config.host}:{server.port}/v1/stream)", flush=True)
            await stop.wait()
        await services.aclose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
