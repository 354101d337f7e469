"""`python -m benchmarks.baseline --model tiny.en --port 0`: run the peer-design baseline."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from benchmarks.baseline.server import BaselineOptions, serve_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.baseline",
        description="whisper_streaming-style baseline server (one model + thread per client).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="base", help="model name in the Parley cache, or a dir")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per model (0: default)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--min-chunk", type=float, default=1.0)
    parser.add_argument("--trim", type=float, default=15.0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())

    from server.models.resolve import resolve_asr

    info = resolve_asr(args.model)
    opts = BaselineOptions(
        model_path=str(info.path),
        model_name=info.name,
        multilingual=info.multilingual,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        beam_size=args.beam_size,
        min_chunk_s=args.min_chunk,
        trim_s=args.trim,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_forever(opts, args.host, args.port, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    from benchmarks.cli import guarded

    sys.exit(guarded(main, "python -m benchmarks.baseline"))
