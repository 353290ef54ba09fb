"""The generation track's tables and figures from its run files: one row per run, the ratios BATON is
judged by, throughput / latency / waste against offered load, and each workload's distributions of time to
first token and time per output token, from the runs' per-request records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core import layout
from revmux.core.errors import RevmuxError

SUMMARY_COLUMNS = [
    "requests_per_s", "useful_tokens_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "e2e_p50_s", "e2e_p99_s",
    "forward_passes", "executed_slots", "useful_slots", "wasted_slot_fraction", "splices", "splice_s",
    "reference_match_rate",
]
# One colour per system in every figure, whichever systems a run has: matplotlib's first colours in the
# systems' alphabetical order, as the figures in docs/batching-run/ were drawn.
SYSTEM_COLORS = {"baton": "C0", "baton-no-split": "C1", "hf-continuous": "C2", "hf-static": "C3", "padded-iteration": "C4",
                 "static": "C5", "unbatched": "C6"}


def run_row(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RevmuxError(f"{path}: no such run result; `revmux serve --out {path}` writes it (in the workflow: "
                          "the batching_serve job of its workload and seed)") from None
    except (OSError, ValueError) as error:
        raise RevmuxError(f"{path}: unreadable run result ({error}); delete it and rerun its job") from None
    if result.get("kind") != "revmux-serve":
        raise RevmuxError(f"{path}: not a `revmux serve` result (kind {result.get('kind')!r})")
    trace = result.get("trace", {})
    settings = result["settings"]
    return {
        "backbone": result["backbone"]["name"], "random_init": result["backbone"]["random_init"],
        "system": result["system"], "label": result["label"], "workload": result["workload"], "seed": result["seed"],
        "load": trace.get("load"), "rate": (trace.get("settings") or {}).get("rate"),
        "concurrency": settings.get("concurrency"), "max_batch": settings["max_batch"],
        "device": settings["device"], "dtype": settings["dtype"], "threads": settings["threads"],
        **{column: result["summary"].get(column) for column in SUMMARY_COLUMNS},
        "peak_memory_mb": (result["memory"]["peak_bytes"] or 0) / 2**20,
    }


def request_rows(path: Path) -> pd.DataFrame:
    """A run's requests, one row each: its time to first token and time per output token (none for a
    request of one token), with the run's backbone, system, workload and seed."""
    from revmux.batching.run import records_path
    from revmux.batching.serve import latencies

    run = run_row(path)
    records = records_path(path)
    try:
        frame = pd.read_csv(records)
    except (OSError, ValueError) as error:
        raise RevmuxError(f"{records}: the per-request records of {path} are unreadable ({error}); rerun its job") from None
    times = latencies(frame)
    tpot = pd.Series(times["tpot"], index=frame.index[frame["output_tokens"] > 1])
    return pd.DataFrame({**{key: run[key] for key in ("backbone", "system", "workload", "seed")},
                         "ttft_s": times["ttft"], "tpot_s": tpot.reindex(frame.index)})


def collect(paths: list[Path]) -> pd.DataFrame:
    if not paths:
        raise RevmuxError("no batching run results given: run the batching rules first")
    return pd.DataFrame([run_row(path) for path in paths]).sort_values(["backbone", "workload", "system", "seed"])


RATIO_OTHERS = ("padded-iteration", "static", "hf-continuous")


def ratios(runs: pd.DataFrame) -> pd.DataFrame:
    """Per backbone and workload: baton's requests/s over padded-iteration's, static's and continuous batching's,
    as the median over seeds of each seed's ratio (both systems served the same trace), with the seeds'
    range where there are several."""
    speed = runs.pivot_table(index=["backbone", "workload", "seed"], columns="system", values="requests_per_s")
    rows = []
    for (backbone, workload), group in speed.groupby(level=["backbone", "workload"]):
        row = {"backbone": backbone, "workload": workload, "seeds": len(group)}
        for other in RATIO_OTHERS:
            if "baton" in group and other in group:
                per_seed = (group["baton"] / group[other]).dropna()
                row[f"baton / {other}"] = per_seed.median()
                if len(per_seed) > 1:
                    row[f"baton / {other} range"] = f"{per_seed.min():.2f}-{per_seed.max():.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def shown(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table as printed: transformers' continuous batching keeps no padded cache whose slots the
    engine could count, so its waste reads "not counted" rather than a blank number."""
    table = runs[["backbone", "workload", "system", "seed", "requests_per_s", "useful_tokens_per_s", "ttft_p99_s",
                  "e2e_p99_s", "wasted_slot_fraction", "splice_s", "reference_match_rate", "device", "dtype",
                  "threads"]].copy()
    table["wasted_slot_fraction"] = [f"{value:.3f}" if pd.notna(value) else "not counted"
                                     for value in table["wasted_slot_fraction"]]
    return table


def _load_order(workload: str) -> float:
    if workload.startswith("load"):
        return float(workload.removeprefix("load"))
    return np.inf if workload == "offline" else -1.0


def _system_color(system: str) -> str:
    return SYSTEM_COLORS.get(system, "grey")


def _workload_title(workload: str) -> str:
    if workload.startswith("load"):
        return f"{workload}: Poisson arrivals at {workload.removeprefix('load')} x static batching's offline capacity"
    if workload.startswith("closed"):
        return f"{workload}: {workload.removeprefix('closed')} clients, each sending its next request when served"
    return f"{workload}: every request arrives at once" if workload == "offline" else workload


def _seconds(value: float, _position=None) -> str:
    return f"{value:g}"


def _two_and_five(value: float, _position=None) -> str:
    return _seconds(value) if f"{value:.0e}"[0] in "25" else ""


def latency_distributions(requests: pd.DataFrame, backbone: str):
    """One row of panels per workload: each system's empirical CDF of time to first token and of time per
    output token over its requests (every seed's pooled), on log scales."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    own = requests[requests["backbone"] == backbone]
    workloads = sorted(own["workload"].unique(), key=_load_order)
    figure = Figure(figsize=(12, 1.2 + 3.2 * len(workloads)))
    panels = figure.subplots(len(workloads), 2, squeeze=False)
    systems = [system for system in SYSTEM_COLORS if system in set(own["system"])]
    systems += sorted(set(own["system"]) - set(systems))
    for (ttft_axes, tpot_axes), workload in zip(panels, workloads):
        here = own[own["workload"] == workload]
        for axes, column, what in ((ttft_axes, "ttft_s", "time to first token (s, from arrival)"),
                                   (tpot_axes, "tpot_s", "time per output token after the first (s)")):
            for system in systems:
                values = np.sort(here.loc[here["system"] == system, column].dropna().to_numpy())
                if len(values):
                    share = np.arange(1, len(values) + 1) / len(values)
                    axes.step(values, share, where="post", color=_system_color(system), label=system)
            for quantile in (0.5, 0.99):
                axes.axhline(quantile, color="grey", linestyle=":", linewidth=0.8)
            axes.set_xscale("log")
            # seconds as plain numbers, with 2 and 5 labelled between powers of ten: a distribution often
            # spans less than a decade, where matplotlib would label no tick or every one
            axes.xaxis.set_major_formatter(FuncFormatter(_seconds))
            axes.xaxis.set_minor_formatter(FuncFormatter(_two_and_five))
            axes.set_ylim(0, 1.02)
            axes.set_xlabel(what)
            axes.set_ylabel("share of requests at or below")
            axes.grid(alpha=0.3, which="both")
        seeds = here["seed"].nunique()
        ttft_axes.set_title(_workload_title(workload) + (f" ({seeds} seeds pooled)" if seeds > 1 else ""), fontsize=9, loc="left")
    figure.suptitle(f"{backbone}: time to first token and time per output token per request, by workload "
                    "(dotted: median and 99th percentile)")
    handles = [Line2D([], [], color=_system_color(system), label=system) for system in systems]
    figure.tight_layout(rect=(0, 0.5 / figure.get_figheight(), 1, 1 - 0.4 / figure.get_figheight()))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    return figure


def _label(axes, x: str, y: str, title: str) -> None:
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(title)
    axes.legend(fontsize=7)


def figures(runs: pd.DataFrame, requests: pd.DataFrame, backbone: str) -> dict:
    from matplotlib.figure import Figure

    own = runs[runs["backbone"] == backbone]
    loaded = own[own["workload"].str.startswith("load")].copy()
    loaded["offered"] = loaded["workload"].map(_load_order)
    out = {}
    load_axis = "offered load (x measured static capacity, Poisson)"
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for system, group in loaded.groupby("system"):
        group = group.groupby("offered", as_index=False)["requests_per_s"].median()
        axes.plot(group["offered"], group["requests_per_s"], marker="o", color=_system_color(system), label=system)
    _label(axes, load_axis, "served requests/s (median over seeds)", f"{backbone}: throughput vs offered load")
    out["throughput-vs-load"] = figure
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for system, group in loaded.groupby("system"):
        group = group.groupby("offered", as_index=False)[["ttft_p99_s", "e2e_p99_s"]].median()
        axes.plot(group["offered"], group["e2e_p99_s"], marker="o", color=_system_color(system), label=f"{system} end-to-end p99")
        axes.plot(group["offered"], group["ttft_p99_s"], marker="x", linestyle="--", color=_system_color(system))
    axes.set_yscale("log")
    _label(axes, load_axis, "seconds (solid: end-to-end p99, dashed: TTFT p99)", f"{backbone}: latency vs offered load")
    out["latency-vs-load"] = figure
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    waste = own.groupby("system", as_index=False)["wasted_slot_fraction"].median().dropna()
    axes.bar(waste["system"], waste["wasted_slot_fraction"], color=[_system_color(system) for system in waste["system"]])
    axes.set_ylabel("executed token-slots that advanced no request")
    axes.set_title(f"{backbone}: padding and idle waste (median over workloads)")
    axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.tight_layout()
    out["waste"] = figure
    out["ttft-tpot"] = latency_distributions(requests, backbone)
    return out


def write_all(paths: list[Path], tables_dir: Path, plots_dir: Path) -> list[Path]:
    from revmux.core.atomic import atomic_write_svg, atomic_write_text

    runs = collect(paths)
    requests = pd.concat([request_rows(path) for path in paths], ignore_index=True)
    tables_dir, plots_dir = Path(tables_dir), Path(plots_dir)
    written = []
    table = tables_dir / Path(layout.BATCHING_TABLE).name
    atomic_write_text(table, runs.to_csv(index=False))
    runs_table, ratio_table = shown(runs), ratios(runs)
    markdown = runs_table.to_markdown(index=False, floatfmt=".3f") + "\n\n" + ratio_table.to_markdown(index=False, floatfmt=".2f") + "\n"
    atomic_write_text(table.with_suffix(".md"), markdown)
    atomic_write_text(table.with_suffix(".html"), runs_table.to_html(index=False, float_format="%.3f")
                      + ratio_table.to_html(index=False, float_format="%.2f"))
    written += [table, table.with_suffix(".md"), table.with_suffix(".html")]
    for backbone in runs["backbone"].unique():
        for name, figure in figures(runs, requests, backbone).items():
            path = plots_dir / layout.BATCHING_PLOT.format(backbone=backbone, figure=name)
            atomic_write_svg(path, figure)
            written.append(path)
    return written
