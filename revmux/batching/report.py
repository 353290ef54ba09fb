"""The generation track's tables and figures from its run files: one row per run, the ratios BATON is
judged by, and throughput / latency / waste against offered load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core.errors import RevmuxError

SUMMARY_COLUMNS = [
    "requests_per_s", "useful_tokens_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "e2e_p50_s", "e2e_p99_s",
    "forward_passes", "executed_slots", "useful_slots", "wasted_slot_fraction", "splices", "splice_s",
    "reference_match_rate",
]
FIGURES = ("throughput-vs-load", "latency-vs-load", "waste")


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


def collect(paths: list[Path]) -> pd.DataFrame:
    if not paths:
        raise RevmuxError("no batching run results given: run the batching rules first")
    return pd.DataFrame([run_row(path) for path in paths]).sort_values(["backbone", "workload", "system", "seed"])


RATIO_OTHERS = ("iteration", "static", "hf-continuous")


def ratios(runs: pd.DataFrame) -> pd.DataFrame:
    """Per backbone and workload: baton's requests/s over iteration's, static's and continuous batching's,
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


def _label(axes, x: str, y: str, title: str) -> None:
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(title)
    axes.legend(fontsize=7)


def figures(runs: pd.DataFrame, backbone: str) -> dict:
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
        axes.plot(group["offered"], group["requests_per_s"], marker="o", label=system)
    _label(axes, load_axis, "served requests/s (median over seeds)", f"{backbone}: throughput vs offered load")
    out["throughput-vs-load"] = figure
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for system, group in loaded.groupby("system"):
        group = group.groupby("offered", as_index=False)[["ttft_p99_s", "e2e_p99_s"]].median()
        line, = axes.plot(group["offered"], group["e2e_p99_s"], marker="o", label=f"{system} end-to-end p99")
        axes.plot(group["offered"], group["ttft_p99_s"], marker="x", linestyle="--", color=line.get_color())
    axes.set_yscale("log")
    _label(axes, load_axis, "seconds (solid: end-to-end p99, dashed: TTFT p99)", f"{backbone}: latency vs offered load")
    out["latency-vs-load"] = figure
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    waste = own.groupby("system", as_index=False)["wasted_slot_fraction"].median().dropna()
    axes.bar(waste["system"], waste["wasted_slot_fraction"])
    axes.set_ylabel("executed token-slots that advanced no request")
    axes.set_title(f"{backbone}: padding and idle waste (median over workloads)")
    axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.tight_layout()
    out["waste"] = figure
    return out


def write_all(paths: list[Path], tables_dir: Path, plots_dir: Path) -> list[Path]:
    from revmux.core import layout
    from revmux.core.atomic import atomic_write_svg, atomic_write_text

    runs = collect(paths)
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
        for name, figure in figures(runs, backbone).items():
            path = plots_dir / layout.BATCHING_PLOT.format(backbone=backbone, figure=name)
            atomic_write_svg(path, figure)
            written.append(path)
    return written
