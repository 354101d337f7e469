"""Results for people: the headline table, a Markdown report and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Row = dict[str, Any]
#: English systems in table order: Parley's latency modes (benchmarks.latency
#: `parley_system`), then the baseline.
SYSTEMS = ("parley", "parley-balanced", "parley-accurate", "baseline")


def _step_at(system: dict[str, Any], streams: int) -> dict[str, Any] | None:
    return next((s for s in system["steps"] if s["streams"] == streams), None)


def _row(model: str, name: str, step: dict[str, Any], offline_wer: Any) -> Row:
    lat = step["latency"]
    return {
        "model": model,
        "system": name,
        "streams": step["streams"],
        "partial_p50": lat["partial"]["p50"],
        "partial_p90": lat["partial"]["p90"],
        "final_p50": lat["final"]["p50"],
        "final_p90": lat["final"]["p90"],
        "final_p99": lat["final"]["p99"],
        "wer": step["wer"],
        "wer_ci": _ci(step.get("wer_ci", {}).get("wer")),
        "wer_ratio_ci": _ci(step.get("wer_ci", {}).get("vs_offline", {}).get("ratio")),
        "offline_wer": offline_wer,
        "cpu_rtf": step["cpu_rtf"],
        "peak_rss_mb": step["peak_rss_mb"],
        "slo_ok": step.get("slo_ok"),
    }


def _ci(interval: dict[str, float] | None) -> str | None:
    """"low-high" of a bootstrap interval (benchmarks.stats), None without one."""
    if not interval:
        return None
    return f"{interval['low']:.3f}-{interval['high']:.3f}"


def headline(results: dict[str, Any]) -> list[Row]:
    """Parley vs baseline per model: at 1 stream, and each at its largest count under the SLO."""
    rows: list[Row] = []
    for model, res in results.get("english", {}).items():
        offline = res.get("offline", {}).get("wer")
        for name in SYSTEMS:
            system = res.get(name)
            if not system or not system["steps"]:
                continue
            rows.append(_row(model, name, system["steps"][0], offline))
        for name in SYSTEMS:
            system = res.get(name)
            if not system:
                continue
            best = system["max_streams_under_slo"]
            step = _step_at(system, best) if best > 1 else None
            if step is not None:
                rows.append(_row(model, f"{name} (max under SLO)", step, offline))
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def describe_server(models: dict[str, Any] | None) -> str | None:
    """One line for what `/v1/models` said the Parley server ran, or None if unknown."""
    if not models or "asr" not in models:
        return None
    asr = models["asr"]
    line = f"{asr.get('name')}, {asr.get('engine', '?')} engine"
    if windows := asr.get("windows_s"):
        alone = "/".join(f"{w:g}" for w in windows["alone"])
        crowded = "/".join(f"{w:g}" for w in windows["crowded"])
        line += f", windows {alone} s alone and {crowded} s crowded"
    return line


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    out = [
        f"# Latency benchmark ({results['date']})",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {results['machine'].get('platform')}; load (1-min average) "
        + ", ".join(str(x.get("load1")) for x in results["machine"].get("load", []))
        + f" on {results['machine'].get('load', [{}])[0].get('cpus', '?')} CPUs.",
        (f"SLO: p90 final latency <= {cfg['slo_s']} s. Frames of {cfg['frame_ms']} ms at "
        f"real-time pace. Repeats: {cfg['repeat']} (medians). Latencies in seconds."),
        "",
        "## Headline: Parley vs baseline (English)",
        "",
    ]
    hdr = ["model", "system", "streams", "partial p50", "partial p90", "final p50",
           "final p90", "final p99", "WER", "WER 95 % CI", "WER / offline 95 % CI",
           "offline WER", "CPU s / audio s", "peak RSS MB"]
    keys = ["model", "system", "streams", "partial_p50", "partial_p90", "final_p50",
            "final_p90", "final_p99", "wer", "wer_ci", "wer_ratio_ci", "offline_wer",
            "cpu_rtf", "peak_rss_mb"]
    out.append(_table(hdr, [[r[k] for k in keys] for r in results.get("headline", [])]))
    for model, res in results.get("english", {}).items():
        out += ["", f"## Concurrency sweep: {model}", ""]
        if (server := describe_server(res.get("server"))) is not None:
            out += [f"Parley ran: {server}.", ""]
        rows = []
        for name in SYSTEMS:
            system = res.get(name)
            if not system:
                continue
            for s in system["steps"]:
                rows.append([name, s["streams"], s["latency"]["partial"]["p50"],
                             s["latency"]["final"]["p50"], s["latency"]["final"]["p90"],
                             s["segment_offset"]["p50"], s["wer"], s["cpu_rtf"],
                             s["peak_rss_mb"], s["ready_s"], s.get("slo_ok"),
                             "; ".join(s["errors"])])
        out.append(_table(["system", "streams", "partial p50", "final p50", "final p90",
                           "segment end p50", "WER", "CPU s / audio s", "peak RSS MB",
                           "ready s", "SLO ok", "errors"], rows))
        for name in SYSTEMS:
            if res.get(name):
                out.append(f"\nLargest count under the SLO, {name}: "
                           f"{res[name]['max_streams_under_slo']}")
        if res.get("ratios_1_stream"):
            r = res["ratios_1_stream"]
            out.append("\nParley / baseline at 1 stream: "
                       + ", ".join(f"{k} {_fmt(v)}" for k, v in r.items()))
    dutch = results.get("dutch")
    if dutch:
        source = dutch.get("language", "nl")
        out += ["", f"## Speech ({source}) -> English ({dutch['model']}, Whisper translate)", ""]
        rows = []
        off = dutch["offline"]
        rows.append(["offline", off["transcript"]["wer"], "-", off["translation"]["bleu"],
                     off["translation"]["chrf"], off["translation"]["bleu_doc"],
                     off["translation"].get("chrf_doc"), "-", "-"])
        for name in ("parley", "baseline"):
            s = dutch.get(name)
            if s:
                tr = s.get("translation", {})
                rows.append([name, s["wer"], s["latency"]["final"]["p50"], tr.get("bleu"),
                             tr.get("chrf"), tr.get("bleu_doc"), tr.get("chrf_doc"),
                             tr.get("final_offset", {}).get("p50"),
                             tr.get("final_offset", {}).get("p90")])
        out.append(_table(["system", f"WER ({source})", "word final p50", "BLEU", "chrF",
                           "BLEU (doc)", "chrF (doc)", "translation offset p50", "p90"], rows))
    mt = results.get("mt")
    if mt:
        out += ["", (f"## Translation stage ({mt['model']}, {mt['sentences']} sentences x "
                f"{mt['passes']})"), ""]
        rows = [[k, v["tokens_per_s"], mt["ratios_vs_bare_loop"].get(k)]
                for k, v in mt.items() if isinstance(v, dict) and "tokens_per_s" in v]
        out.append(_table(["path", "tokens/s", "x bare loop"], rows))
        fl = mt["flicker"]
        names = {"parley": "Parley (prefix reuse)", "no_final_reuse": "final not from partial",
                 "no_prefix_reuse": "no prefix reuse", "finals_only": "partials off"}
        out.append("")
        out.append(_table(
            ["partial translations", "NE", "NE (chars)", "NE (stable)", "partials per sentence",
             "final lag p50 (s)", "p90"],
            [[names.get(k, k), v.get("ne"), v["erased_per_final_char"], v.get("ne_stable"),
              v["partials_per_sentence"], v.get("final_lag_s", {}).get("p50"),
              v.get("final_lag_s", {}).get("p90")] for k, v in fl.items()]))
        for name, d in mt.get("final_lag_vs", {}).items():
            out.append(f"\nFinal lag, Parley minus {names.get(name, name)}: {d['mean']:+.3f} s "
                       f"(95 % CI {d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f}, {d['n']} sentences).")
        out.append(f"\nFinal translation = offline translation of the same text: "
                   f"{mt['agreement']['exact']:.0%} (chrF {mt['agreement']['chrf']}).")
    return "\n".join(out) + "\n"


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    path.write_text(markdown(results), "utf-8")


def write_plots(out_dir: Path, results: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    english = results.get("english", {})
    if not english:
        return written
    # 1. CDFs of partial and final latency at 1 stream, Parley vs baseline.
    fig, axes = plt.subplots(1, len(english), figsize=(6 * len(english), 4.2), squeeze=False)
    colors = dict(zip(SYSTEMS, ("tab:blue", "tab:cyan", "tab:green", "tab:red"), strict=True))
    for ax, (model, res) in zip(axes[0], english.items(), strict=True):
        for name, color in colors.items():
            system = res.get(name)
            if not system or not system["steps"]:
                continue
            samples = system["steps"][0]["samples"]
            for kind, style in (("partial_s", "--"), ("final_s", "-")):
                xs = sorted(samples[kind])
                if xs:
                    ys = [(i + 1) / len(xs) for i in range(len(xs))]
                    ax.step(xs, ys, style, color=color, where="post",
                            label=f"{name} {kind[:-2]}")
        ax.axvline(results["config"]["slo_s"], color="gray", lw=0.8, ls=":")
        ax.set_title(f"{model}: per-word latency, 1 stream")
        ax.set_xlabel("seconds after the frame holding the word's end was sent")
        ax.set_ylabel("share of words")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path = out_dir / "latency_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
    # 2. Latency and WER against the number of streams.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for model, res in english.items():
        for name, marker in zip(SYSTEMS, ("o", "^", "D", "s"), strict=True):
            system = res.get(name)
            if not system or not system["steps"]:
                continue
            n = [s["streams"] for s in system["steps"]]
            p90 = [s["latency"]["final"]["p90"] for s in system["steps"]]
            p50 = [s["latency"]["final"]["p50"] for s in system["steps"]]
            wer = [s["wer"] for s in system["steps"]]
            line = ax1.plot(n, p90, marker=marker, label=f"{name} {model} p90")[0]
            ax1.plot(n, p50, marker=marker, ls="--", color=line.get_color(),
                     label=f"{name} {model} p50")
            ax2.plot(n, wer, marker=marker, label=f"{name} {model}")
    ax1.axhline(results["config"]["slo_s"], color="gray", lw=0.8, ls=":", label="SLO")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("simultaneous streams")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylabel("final latency (s)")
    ax1.set_yscale("log")
    ax2.set_ylabel("WER")
    fig.tight_layout()
    path = out_dir / "sweep.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
    # 3. The frontier: WER against final-latency p50 at 1 stream, a point per system.
    points = [(f"{name} {model}", s["latency"]["final"]["p50"], s["wer"],
               s.get("wer_ci", {}).get("wer"))
              for model, res in english.items() for name in SYSTEMS
              if res.get(name) and res[name]["steps"]
              for s in [res[name]["steps"][0]]]
    if points:
        path = out_dir / "frontier.png"
        offline = [res.get("offline", {}).get("wer") for res in english.values()]
        frontier_plot(path, [p for p in points if p[1] is not None and p[2] is not None],
                      "final latency p50, 1 real-time stream (s)",
                      offline[0] if len(offline) == 1 else None)
        written.append(path.name)
    return written


def log_latency_axis(latencies: list[float]) -> bool:
    """Whether a frontier's latency axis is logarithmic: its positive latencies span more
    than a decade."""
    positive = [x for x in latencies if x > 0]
    return bool(positive) and max(positive) > 10 * min(positive)


def frontier_plot(
    path: Path, points: list[tuple[str, float, float, dict[str, float] | None]], xlabel: str,
    offline_wer: float | None = None, ylabel: str = "WER (95 % CI)",
) -> None:
    """WER (with its 95 % CI as an error bar where given) against a latency, one labelled
    point per system; `offline_wer` as a dashed line. The latency axis is logarithmic when
    the points span more than a decade (a baseline minutes behind beside Parley's seconds),
    so that the close points stay apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, latency, wer, ci in points:
        yerr = None if not ci else [[wer - ci["low"]], [ci["high"] - wer]]
        ax.errorbar([latency], [wer], yerr=yerr, fmt="o", capsize=4, label=label)
        ax.annotate(label, (latency, wer), textcoords="offset points", xytext=(6, 6),
                    fontsize=8)
    if offline_wer is not None:
        ax.axhline(offline_wer, color="gray", ls="--", lw=0.8, label="offline")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_latency_axis([p[1] for p in points]):
        ax.set_xscale("log")
    else:
        ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title("accuracy against latency: lower left is better")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
