"""Figures of the accuracy-speed trade-off, drawn from the aggregated tables (summary.csv, speed.csv).

One set per backbone: accuracy against measured speedup (per task, with 95% intervals, the teacher
as reference and each N's ceiling marked), measured speedup against N with the ceiling curve,
peak memory and energy per sample against N, and agreement with the teacher's predictions.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global figure registry, no GUI backend to choose

from revmux.core.atomic import atomic_write_svg  # noqa: E402
from revmux.core.layout import FIGURES  # noqa: E402
from revmux.analysis.tables import HARDWARE_KEYS, METHOD_ORDER, method_label, pareto_front  # noqa: E402

COLORS = {"identity": "black", "adapter": "tab:orange", "ora": "tab:green", "hadamard": "tab:purple", "revmux": "tab:blue",
          "truncate": "tab:red"}
MARKERS = {2: "o", 3: "v", 4: "s", 8: "D"}


def figure_paths(out: Path, backbone: str) -> dict[str, Path]:
    return {name: out / f"{backbone}-{name}.svg" for name in FIGURES}


def _color(method: str) -> str:
    return COLORS.get(method.split("+")[0], "grey")


def _marker(method: str, n: int) -> str:
    base, _, scheme = method.partition("+")
    if scheme:
        return "X"  # a quantized backbone
    if base == "identity":
        return "*"
    if base == "truncate":
        return "d"
    return MARKERS.get(n, "o")


def _methods(frame: pd.DataFrame) -> list[str]:
    present = set(frame["method"])
    return [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))


def _message(axes, text: str) -> None:
    wrapped = "\n".join(textwrap.fill(line, 50) for line in text.splitlines())
    axes.text(0.5, 0.5, wrapped, ha="center", va="center", transform=axes.transAxes, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])


def accuracy_vs_speedup(summary: pd.DataFrame, backbone: str):
    rows = summary[summary.backbone == backbone]
    tasks = list(dict.fromkeys(rows["task"]))
    figure = Figure(figsize=(max(9.0, 5.5 * len(tasks)), 7.5))
    axes_row = figure.subplots(1, len(tasks), squeeze=False)
    for axes, task in zip(axes_row[0], tasks):
        here = rows[rows.task == task]
        teacher = here[here.method == "identity"]
        reference = teacher["accuracy_mean"].iloc[0] if len(teacher) else here["teacher_accuracy"].iloc[0]
        axes.axhline(reference * 100, color="black", linestyle="--", linewidth=1, label="teacher (no multiplexing)")
        for n in sorted(set(here[here.method != "identity"]["n"])):
            ceiling = here[(here.n == n) & here.ceiling.notna()]["ceiling"]
            if len(ceiling):
                axes.axvline(ceiling.iloc[0], color="grey", linestyle=":", linewidth=1)
                axes.annotate(f"ceiling N={n}", (ceiling.iloc[0], 1.0), xycoords=("data", "axes fraction"),
                              rotation=90, va="top", ha="right", fontsize=8, color="grey")
        for method in _methods(here):
            for _, row in here[here.method == method].iterrows():
                if pd.isna(row["speedup"]):
                    continue
                error = [[(row["accuracy_mean"] - row["accuracy_ci_low"]) * 100],
                         [(row["accuracy_ci_high"] - row["accuracy_mean"]) * 100]]
                invalid = row.get("profile_valid") is not None and pd.notna(row["profile_valid"]) and not row["profile_valid"]
                axes.errorbar(row["speedup"], row["accuracy_mean"] * 100, yerr=error, color=_color(method),
                              marker=_marker(method, row["n"]), markersize=8, capsize=3,
                              linestyle="none", markerfacecolor="none" if invalid else None,
                              label=method_label(row) + (" (timing invalid)" if invalid else ""))
        timed = here[here["speedup"].notna()]
        if len(timed) > 1:
            front = timed[pareto_front(timed["speedup"].to_numpy(), timed["accuracy_mean"].to_numpy())].sort_values("speedup")
            axes.plot(front["speedup"], front["accuracy_mean"] * 100, color="grey", linewidth=2, alpha=0.5, zorder=0,
                      drawstyle="steps-pre", label="Pareto front (no option both faster and more accurate)")
        axes.set_title(task)
        axes.set_xlabel("measured throughput over the teacher's (speed-up, x)")
        axes.set_ylabel("accuracy (%), 95% bootstrap interval")
        axes.grid(alpha=0.3)
        if not here["speedup"].notna().any():
            axes.text(0.5, 0.02, "no timing profile found: speedup not measured", transform=axes.transAxes, ha="center")
    handles, labels = axes_row[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.suptitle(f"{backbone}: accuracy against measured speed-up, multiplexing and its alternatives")
    figure.tight_layout(rect=(0, 0.22, 1, 1))
    figure.legend(unique.values(), unique.keys(), loc="lower center", ncol=min(len(unique), 3), fontsize=8)
    return figure


def _invalid(row) -> bool:
    return "valid" in row and pd.notna(row["valid"]) and not bool(row["valid"])


def _points(axes, points: pd.DataFrame, x: str, y: str, color: str, label: str, scale: float = 1.0) -> None:
    """A line through the points; a valid timing is a filled marker, an invalid one hollow and labelled so."""
    axes.plot(points[x], points[y] * scale, color=color, linewidth=1, label=label)
    for _, row in points.iterrows():
        invalid = _invalid(row)
        axes.plot([row[x]], [row[y] * scale], marker="o", color=color, linestyle="none",
                  markerfacecolor="none" if invalid else color, label=f"{label} (timing invalid)" if invalid else None)


def _dedupe_legend(axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes.legend(unique.values(), unique.keys(), fontsize=8)


def _setting_title(group: pd.DataFrame) -> str:
    first = group.iloc[0]
    return f"{first['device']} {first['dtype']}, {int(first['threads'])} threads"


def speedup_vs_n(profiles: pd.DataFrame, backbone: str):
    figure = Figure(figsize=(6.5, 4.5))
    axes = figure.subplots()
    rows = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if rows.empty:
        _message(axes, "no timing profile for this backbone")
        return figure
    for (*_, p, batch, length), group in rows.groupby(HARDWARE_KEYS + ["p", "batch", "length"]):
        setting = f"{_setting_title(group)}, batch {batch} x {length}"
        a, b = group["ceiling_per_instance_flops"].mean(), group["ceiling_per_composite_flops"].mean()
        if pd.notna(a) and pd.notna(b):
            # The ceiling from the FLOPs run once per instance (a) and once per composite (b).
            ns = np.linspace(1, max(group["n"].max(), 2), 100)
            axes.plot(ns, (a + b) / (a + b / ns), color="grey", linestyle="--", label=f"ceiling (a+b)/(a+b/N), P={p}, {setting}")
        for method in _methods(group):
            points = group[group.method == method].sort_values("n")
            _points(axes, points, "n", "speedup", _color(method), f"{method} ({setting})")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("N (instances per composite)")
    axes.set_ylabel("measured speedup over the teacher (x)")
    axes.set_title(f"{backbone}: speedup against N ({rows['hardware'].iloc[0]})")
    axes.grid(alpha=0.3)
    _dedupe_legend(axes)
    figure.tight_layout()
    return figure


def memory_energy_vs_n(profiles: pd.DataFrame, backbone: str):
    figure = Figure(figsize=(11, 4.5))
    memory_axes, energy_axes = figure.subplots(1, 2)
    rows = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if rows.empty:
        _message(memory_axes, "no timing profile for this backbone")
        _message(energy_axes, "no timing profile for this backbone")
        return figure
    has_memory = rows["multiplexed_peak_memory_bytes"].notna().any()
    for keys, group in rows.groupby(HARDWARE_KEYS + ["batch"]):
        setting = f"{_setting_title(group)}, batch {keys[-1]}"
        for method in _methods(group):
            points = group[group.method == method].sort_values("n")
            color = _color(method)
            if points["multiplexed_peak_memory_bytes"].notna().any():
                _points(memory_axes, points, "n", "multiplexed_peak_memory_bytes", color, f"{method} ({setting})", 1e-6)
            if points["multiplexed_energy_per_sample_j"].notna().any():
                _points(energy_axes, points, "n", "multiplexed_energy_per_sample_j", color, f"{method} ({setting})")
        teacher = group[["teacher_peak_memory_bytes", "teacher_energy_per_sample_j"]].mean()
        if pd.notna(teacher["teacher_peak_memory_bytes"]):
            memory_axes.plot([1], [teacher["teacher_peak_memory_bytes"] / 1e6], marker="*", markersize=12, color="black",
                             linestyle="none", label=f"teacher ({setting})")
        if pd.notna(teacher["teacher_energy_per_sample_j"]):
            energy_axes.plot([1], [teacher["teacher_energy_per_sample_j"]], marker="*", markersize=12, color="black",
                             linestyle="none", label=f"teacher ({setting})")
    if has_memory:
        source = rows["multiplexed_peak_memory_source"].dropna().iloc[0]
        memory_axes.set_xlabel("N (instances per composite; teacher at 1)")
        memory_axes.set_ylabel("peak memory over the loaded model (MB)")
        memory_axes.set_title(source, fontsize=9)
        memory_axes.grid(alpha=0.3)
        _dedupe_legend(memory_axes)
    else:
        reason = rows["multiplexed_peak_memory_source"].dropna()
        _message(memory_axes, "peak memory n/a:\n" + (reason.iloc[0] if len(reason) else "no reading"))
    if rows["multiplexed_energy_per_sample_j"].notna().any():
        energy_axes.set_xlabel("N (instances per composite; teacher at 1)")
        energy_axes.set_ylabel("GPU energy per sample (J)")
        energy_axes.grid(alpha=0.3)
        _dedupe_legend(energy_axes)
    else:
        reason = rows["energy_unavailable"].dropna()
        _message(energy_axes, "energy not measured here:\n" + (reason.iloc[0] if len(reason) else "no reading"))
    figure.suptitle(f"{backbone}: memory and energy against N")
    figure.tight_layout()
    return figure


def agreement(summary: pd.DataFrame, backbone: str):
    rows = summary[(summary.backbone == backbone) & (summary.method != "identity")]
    figure = Figure(figsize=(max(6, 1.2 * len(rows)), 4.5))
    axes = figure.subplots()
    if rows.empty:
        _message(axes, "no multiplexed runs for this backbone")
        return figure
    labels = [f"{row['task']}\n{method_label(row)}" for _, row in rows.iterrows()]
    axes.bar(range(len(rows)), rows["agreement_with_teacher"] * 100,
             color=[_color(m) for m in rows["method"]])
    axes.set_xticks(range(len(rows)), labels, fontsize=8)
    axes.set_ylabel("predictions equal to the teacher's (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"{backbone}: agreement with the teacher, per example and regrouping")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def draw_all(summary: pd.DataFrame, profiles: pd.DataFrame, backbones: list[str], out: Path) -> list[Path]:
    written = []
    for backbone in backbones:
        figures = {
            "accuracy-vs-speedup": accuracy_vs_speedup(summary, backbone),
            "speedup-vs-n": speedup_vs_n(profiles, backbone),
            "memory-energy-vs-n": memory_energy_vs_n(profiles, backbone),
            "agreement": agreement(summary, backbone),
        }
        for name, path in figure_paths(out, backbone).items():
            atomic_write_svg(path, figures[name])
            written.append(path)
    return written
