"""`parley`: serve, transcribe, models. Every flag is also a PARLEY_* variable."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib.metadata
import logging
import math
import os
import signal
import socket
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, cast, get_args

from server.asr.batched import BatchOptions
from server.asr.whisper import OFFLINE_BEAM_SIZE, AsrOptions
from server.config import AsrEngine, Security, ServerConfig
from server.errors import ParleyError
from server.security.limits import Limits
from server.streaming.policy import LATENCY_MODES

log = logging.getLogger(__name__)

#: The cluster key itself, when it is not in a --cluster-key-file.
CLUSTER_KEY_ENV = "PARLEY_CLUSTER_KEY"


def env_name(flag: str) -> str:
    return "PARLEY_" + flag.lstrip("-").replace("-", "_").upper()


class _FromEnv(str):
    """A default read from a PARLEY_* variable. argparse converts a string default with
    the option's `type` only when that command runs and the flag is not given, so a bad
    variable fails that command alone, with the variable's name (`_checked`)."""


def _checked(convert: Callable[[str], Any], env: str, choices: Any) -> Callable[[str], Any]:
    def check(raw: str) -> Any:
        if not isinstance(raw, _FromEnv):
            return convert(raw)
        try:
            value = convert(raw)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise argparse.ArgumentTypeError(f"from {env}: {exc}") from exc
        if choices is not None and value not in choices:
            raise argparse.ArgumentTypeError(
                f"from {env}: {str(raw)!r} is not one of {', '.join(map(str, choices))}")
        return value

    check.__name__ = getattr(convert, "__name__", "value")  # argparse's "invalid int value"
    return check


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
            kw["type"] = _checked(kw.get("type", str), env, kw.get("choices"))
            kw["default"] = _FromEnv(raw)
    shown = kw.get("default")
    parser.add_argument(flag, help=f"{help} [env {env}; default: {shown}]", **kw)


def _number(convert: Callable[[str], float], least: float, *, above: bool = False,
            most: float | None = None) -> Callable[[str], Any]:
    """An argparse `type`: a number of `convert`'s kind from `least` (excluded if `above`)
    up to `most`, else an error that says the bound."""
    def parse(raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            value = math.nan
        if math.isnan(value):
            kind = "a whole number" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"not {kind}: {raw!r}")
        if value < least or (above and value == least) or (most is not None and value > most):
            bound = f"> {least:g}" if above else f">= {least:g}"
            if most is not None:
                bound = f"{least:g}-{most:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {raw}")
        return value

    return parse


port_number = _number(int, 0, most=65535)
positive_int = _number(int, 0, above=True)
positive_number = _number(float, 0.0, above=True)
number_or_zero = _number(float, 0.0)


#: Entry-point group of extra `parley` subcommands (the benchmarks add `bench`): each
#: names a module with `add_parser(subparsers)` and `run(args) -> exit status`.
COMMANDS_GROUP = "parley.commands"


class Command(Protocol):
    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser: ...
    def run(self, args: argparse.Namespace) -> int: ...


def plugin_commands() -> dict[str, Command]:
    """The installed extra subcommands, by name."""
    return {
        ep.name: cast(Command, ep.load())
        for ep in importlib.metadata.entry_points(group=COMMANDS_GROUP)
    }


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
    add(s, "--port", type=port_number, default=8765, help="port (0: any free port)")
    add(s, "--asr-model", default="base",
        help="recognition model: a name from `parley models list`, a CTranslate2 dir, or a HF repo id")
    add(s, "--mt-model", action="append", default=None,
        help="translation model (repeatable; env: comma-separated): name, CT2 dir, or .argosmodel")
    add(s, "--no-mt", action="store_true", default=False, help="load no translation model")
    add(s, "--latency", default=ServerConfig().latency, choices=list(LATENCY_MODES),
        help="latency mode of sessions whose start names none (start.latency): fast (words"
             " committed as decodes agree), accurate (each utterance's final is one decode of"
             " all of it), balanced (accurate, with unbroken speech cut every 6-8 s)")
    add(s, "--asr-engine", default=ServerConfig().asr_engine, choices=list(get_args(AsrEngine)),
        help="recognition engine: batched decoding of many sessions' requests in windows sized"
             " to their audio (server/asr/batched.py), or faster-whisper's transcribe per request")
    add(s, "--asr-windows", default=windows_arg(BatchOptions().window_buckets_s),
        help="batched engine: encoder window lengths in seconds (comma-separated; each decode"
             " takes the shortest that holds its audio plus"
             f" {BatchOptions().window_margin_s:g} s; 30 is always added). Shorter windows"
             " cost less and are heard less well")
    add(s, "--asr-crowded-windows",
        default=windows_arg(BatchOptions().crowded_window_buckets_s),
        help="batched engine: the windows of a decode that shares the CPU with others (many"
             " sessions at once), so more streams keep real time; 'off': --asr-windows always")
    add(s, "--asr-window-budget",
        default=budget_arg(BatchOptions().alone_encode_budget_s),
        help="batched engine: a lone decode takes --asr-windows only if this machine encodes"
             " the shortest of them within this many seconds (timed at start-up from CPU time,"
             " so other busy programs do not count), else the"
             " crowded windows; 'off': no test")
    add(s, "--asr-beam", type=positive_int, default=BatchOptions.beam_size,
        help="batched engine: beam width of a decode alone (1: greedy). A wider beam hears"
             " better and costs decoder time")
    add(s, "--asr-crowded-beam", type=positive_int, default=BatchOptions.crowded_beam_size,
        help="batched engine: beam width of a decode that takes the crowded windows")
    add(s, "--compute-type", default="int8", help="CTranslate2 compute type for both models")
    add(s, "--threads", type=int, default=AsrOptions.cpu_threads,
        help="CPU threads per recognition call (0: auto, 2 on 2 cores; see --asr-workers)")
    add(s, "--asr-workers", type=int, default=AsrOptions.workers,
        help="recognition calls that run at once on the one shared model (CTranslate2 replicas"
             " share its weights), so sessions decode in parallel instead of queueing. 0: auto,"
             " one per core up to 4, with --threads keeping busy workers at <= 2 threads a core")
    add(s, "--max-sessions", type=positive_int, default=Limits.max_sessions,
        help="concurrent speaker sessions")
    add(s, "--max-frame-bytes", type=positive_int, default=Limits.max_frame_bytes,
        help="largest audio frame")
    add(s, "--config", type=Path, default=None, help="TOML file with [server] settings (flags win)")
    # rooms across replicas
    add(s, "--mqtt-url", default=None,
        help="MQTT broker for room captions and cross-replica rooms, e.g. mqtt://127.0.0.1:1883")
    add(s, "--replica-id", default="",
        help="this replica's id in MQTT topics and client id (empty: hostname-pid)")
    add(s, "--cluster-key-file", default=None,
        help="file holding the secret replicas sign their MQTT messages with (else"
             f" ${CLUSTER_KEY_ENV}); without one, no other replica's room is followed")
    # security, limits, resume, shutdown
    add(s, "--tokens-file", default=None,
        help="API token file (TOML or JSON lines); else PARLEY_TOKENS (role:secret[:rooms[:max]],...)")
    add(s, "--open", action="store_true", default=False,
        help="serve without tokens on any address (without tokens, only loopback is served)")
    add(s, "--allowed-origins", default="",
        help="comma-separated Origin values browsers may connect from (empty: any)")
    add(s, "--tls-cert", default=None, help="PEM certificate chain: serve https/wss")
    add(s, "--tls-key", default=None, help="PEM private key of --tls-cert")
    add(s, "--max-session-s", type=positive_number, default=Limits.max_session_s,
        help="longest speaker session in seconds (then session_too_long)")
    add(s, "--idle-timeout-s", type=positive_number, default=Limits.idle_timeout_s,
        help="close a speaker that sent no audio for this long (idle_timeout)")
    add(s, "--start-timeout-s", type=positive_number, default=Limits.start_timeout_s,
        help="close a speaker connection that sent no `start` this long after opening"
             " (idle_timeout); nothing sent before `start` extends it")
    add(s, "--max-unauthenticated-per-address", type=positive_int,
        default=Limits.max_unauthenticated_per_address,
        help="speaker connections from one address that have not sent an admitted `start`"
             " yet, at once (one more: rate_limited)")
    add(s, "--message-rate", type=positive_number, default=Limits.message_rate,
        help="client messages a second per connection, burst twice that (rate_limited)")
    add(s, "--max-upload-bytes", type=positive_int, default=ServerConfig.max_upload_bytes,
        help="largest request body of the OpenAI audio endpoints /v1/audio/transcriptions and"
             " /v1/audio/translations (the multipart upload); larger: 413")
    add(s, "--resume-grace-s", type=number_or_zero, default=30.0,
        help="how long a dropped speaker may reconnect and resume its session (0: never)")
    add(s, "--drain-timeout-s", type=number_or_zero, default=30.0,
        help="on SIGTERM, how long sessions get to deliver their last finals")

    t = sub.add_parser("transcribe", help="offline transcription (and translation) of a file",
                       description="Transcribe a whole file with the same models: the accuracy ceiling.")
    t.add_argument("file", type=Path, help="audio file in any format FFmpeg reads")
    add(t, "--model", default="base", help="recognition model (name or path)")
    add(t, "--language", default=None, help="source language (default: detect)")
    add(t, "--translate-to", default=None, help="target language for translation")
    add(t, "--mt-model", action="append", default=None, help="translation model(s)")
    add(t, "--compute-type", default="int8", help="CTranslate2 compute type")
    add(t, "--beam", type=positive_int, default=OFFLINE_BEAM_SIZE,
        help="beam width (1: greedy, faster; wider: slower, sometimes better)")
    add(t, "--json", action="store_true", default=False, help="print JSON with word timings")

    from server.models.cli import add_models_parser

    add_models_parser(sub)

    for command in plugin_commands().values():
        command.add_parser(sub)
    return parser


#: The `[server]` keys a `--config` file may set, and their types.
CONFIG_KEYS: dict[str, type] = {"mt_models": list, "mqtt_url": str, "replica_id": str}


def read_config_file(path: Path) -> dict[str, Any]:
    """The `[server]` table of a `--config` TOML file, checked key by key."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ParleyError(f"--config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ParleyError(f"--config {path}: not valid TOML: {exc}") from exc
    table = doc.get("server", {})
    if not isinstance(table, dict):
        raise ParleyError(f"--config {path}: 'server' must be a table ([server])")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ParleyError(f"--config {path}: unknown [server] key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(CONFIG_KEYS)} (every other setting is a flag)")
    for key, kind in CONFIG_KEYS.items():
        value = table.get(key)
        if value is None:
            continue
        if kind is list and isinstance(value, str):
            table[key] = value = [value]
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not (strings if kind is list else isinstance(value, kind)):
            want = "a list of strings" if kind is list else "a string"
            raise ParleyError(f"--config {path}: [server] {key} must be {want}, not {value!r}")
    return table


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    file_cfg = read_config_file(args.config) if args.config is not None else {}
    base = ServerConfig()
    mt = args.mt_model if args.mt_model is not None else file_cfg.get("mt_models", list(base.mt_models))
    if args.no_mt:
        mt = []
    return replace(
        base,
        host=args.host,
        port=args.port,
        asr_model=args.asr_model,
        asr_engine=args.asr_engine,
        latency=args.latency,
        batch=replace(
            with_window_budget(
                with_windows(base.batch, args.asr_windows, args.asr_crowded_windows),
                args.asr_window_budget,
            ),
            beam_size=args.asr_beam,
            crowded_beam_size=args.asr_crowded_beam,
        ),
        mt_models=tuple(mt),
        asr=asr_options(base.asr, args),
        mt_compute_type=args.compute_type,
        limits=replace(
            base.limits, max_sessions=args.max_sessions, max_frame_bytes=args.max_frame_bytes,
            max_session_s=args.max_session_s, idle_timeout_s=args.idle_timeout_s,
            start_timeout_s=args.start_timeout_s,
            max_unauthenticated_per_address=args.max_unauthenticated_per_address,
            message_rate=args.message_rate, message_burst=2 * args.message_rate,
        ),
        log_level=args.log_level,
        mqtt_url=args.mqtt_url or file_cfg.get("mqtt_url"),
        replica_id=args.replica_id or file_cfg.get("replica_id", ""),
        security=Security(
            tokens_file=args.tokens_file or None,
            open=args.open,
            allowed_origins=tuple(o.strip() for o in args.allowed_origins.split(",") if o.strip()),
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            cluster_key=cluster_key(args.cluster_key_file, os.environ),
        ),
        resume_grace_s=args.resume_grace_s,
        drain_timeout_s=args.drain_timeout_s,
        max_upload_bytes=args.max_upload_bytes,
    )


def cluster_key(path: str | None, environ: Mapping[str, str]) -> str | None:
    """The cluster key from `path` (whole file, surrounding whitespace stripped), else
    from $PARLEY_CLUSTER_KEY; None when neither is set. ParleyError when it is too short."""
    from server.mqtt.signing import MIN_KEY_CHARS

    if path:
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise ParleyError(f"--cluster-key-file {path}: {exc.strerror or exc}") from exc
        where = f"--cluster-key-file {path}"
    else:
        key = environ.get(CLUSTER_KEY_ENV, "").strip()
        where = CLUSTER_KEY_ENV
    if not key:
        if path:
            raise ParleyError(f"{where} is empty")
        return None
    if len(key) < MIN_KEY_CHARS:
        raise ParleyError(f"{where}: the cluster key must be at least {MIN_KEY_CHARS} characters"
                          " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return key


def asr_options(asr: AsrOptions, args: argparse.Namespace) -> AsrOptions:
    """`asr` with the serve flags for compute type, threads and workers, or ParleyError."""
    try:
        return replace(
            asr, compute_type=args.compute_type, cpu_threads=args.threads, workers=args.asr_workers
        )
    except ValueError as exc:
        raise ParleyError(f"--threads / --asr-workers: {exc}") from exc


def windows_arg(buckets: tuple[float, ...] | None) -> str:
    """Window lengths as the --asr-*windows flags write them: "10,15,20,30" or "off"."""
    return "off" if buckets is None else ",".join(f"{w:g}" for w in buckets)


def budget_arg(budget: float | None) -> str:
    return "off" if budget is None else f"{budget:g}"


def with_window_budget(batch: BatchOptions, raw: str) -> BatchOptions:
    """`batch` with the `--asr-window-budget` value (seconds or "off"), or ParleyError."""
    return _set_option(batch, "--asr-window-budget", "alone_encode_budget_s", raw, float)


def with_windows(batch: BatchOptions, raw: str, crowded: str | None = None) -> BatchOptions:
    """`batch` with the `--asr-windows` value "10,15,20" and the `--asr-crowded-windows`
    value (the same form, or "off"); BatchOptions validates them and adds 30. ParleyError
    when one is not a list of window lengths."""
    batch = _set_option(batch, "--asr-windows", "window_buckets_s", raw, _lengths, off=False)
    if crowded is None:
        return batch
    field = "crowded_window_buckets_s"
    return _set_option(batch, "--asr-crowded-windows", field, crowded, _lengths)


def _lengths(raw: str) -> tuple[float, ...]:
    return tuple(float(w) for w in raw.split(",") if w.strip())


def _set_option(
    batch: BatchOptions, flag: str, field: str, raw: str, parse: Callable[[str], Any],
    *, off: bool = True,
) -> BatchOptions:
    """`batch` with `field` set from the flag's text (`off`: "off" sets None); the flag
    named in a ParleyError when the text does not parse or BatchOptions refuses it."""
    try:
        change: dict[str, Any] = {field: None if off and raw.strip().lower() == "off" else parse(raw)}
        return replace(batch, **change)
    except ValueError as exc:
        raise ParleyError(f"{flag} {raw!r}: {exc}") from exc


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
        plugins = plugin_commands()
        if args.command in plugins:
            return plugins[args.command].run(args)
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
    from server.mqtt.settings import MqttSettings
    from server.security.startup import allowed_origins, build_gatekeeper, ssl_context
    from server.services import Services
    from server.transport.gateway import running

    # Settings and the address first: a refusal must not wait for the models to load.
    gate = build_gatekeeper(config)
    ssl_context(config)
    allowed_origins(config)
    if config.mqtt_url:
        MqttSettings.from_url(config.mqtt_url)
    check_listenable(config.host, config.port)
    services = Services.load(config)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():  # a second signal: give up on draining
                print("parley: second signal, exiting now", file=sys.stderr, flush=True)
                os._exit(130)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        async with contextlib.AsyncExitStack() as stack:
            try:
                server = await stack.enter_async_context(running(services, gate=gate))
            except OSError as exc:  # taken since check_listenable's probe
                if exc.errno not in _BIND_ERRORS:
                    raise
                raise cannot_listen(config.host, config.port, exc) from exc
            http_scheme, ws_scheme = ("https", "wss") if server.tls else ("http", "ws")
            print(f"parley: serving on {http_scheme}://{config.host}:{server.port} "
                  f"(stream: {ws_scheme}://{config.host}:{server.port}/v1/stream)", flush=True)
            await stop.wait()
            print(f"parley: shutting down: finishing sessions (up to {config.drain_timeout_s:g} s)",
                  flush=True)
            await server.shutdown()
        await services.aclose()
        print("parley: stopped", flush=True)

    asyncio.run(run())
    return 0


_BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def check_listenable(host: str, port: int) -> None:
    """Refuse an address this process cannot listen on (taken, or not this machine's).
    A probe: another process may still take the port before the server binds it."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise cannot_listen(host, port, exc) from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio binds
            try:
                probe.bind(address)
            except OSError as exc:
                raise cannot_listen(host, port, exc) from exc


def cannot_listen(host: str, port: int, exc: OSError) -> ParleyError:
    hint = " (is another server running there?)" if exc.errno == errno.EADDRINUSE else ""
    return ParleyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}")


if __name__ == "__main__":
    sys.exit(main())
