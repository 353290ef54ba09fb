"""Figures of the accuracy-speed trade-off, drawn from the aggregated tables (summary.csv, profiles.csv).

One set per backbone: accuracy against measured speedup (per task, with 95% intervals, the teacher
as reference and each N's ceiling marked), measured speedup against N with the ceiling curve,
peak memory and energy per sample against N, and agreement with the teacher's predictions.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from revmux.atomic import atomic_write_bytes  # noqa: E402
from revmux.profiling import analytic_ceiling  # noqa: E402
from revmux.report_layout import FIGURES  # noqa: E402
from revmux.tables import METHOD_ORDER  # noqa: E402

COLORS = {"teacher": "black", "adapter": "tab:orange", "ora": "tab:green", "hadamard": "tab:purple", "revmux": "tab:blue"}
MARKERS = {2: "o", 3: "v", 4: "s", 8: "D"}


def figure_paths(out: Path, backbone: str) -> dict[str, Path]:
    return {name: out / f"{backbone}-{name}.svg" for name in FIGURES}


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
    figure, axes_row = plt.subplots(1, len(tasks), figsize=(max(8.0, 5.5 * len(tasks)), 5.5), squeeze=False)
    for axes, task in zip(axes_row[0], tasks):
        here = rows[rows.task == task]
        teacher = here[here.method == "teacher"]
        reference = teacher["accuracy_mean"].iloc[0] if len(teacher) else here["teacher_accuracy"].iloc[0]
        axes.axhline(reference * 100, color="black", linestyle="--", linewidth=1, label="teacher (no multiplexing)")
        for n in sorted(set(here[here.method != "teacher"]["n"])):
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
                label = method if method == "teacher" else f"{method} N={row['n']}"
                axes.errorbar(row["speedup"], row["accuracy_mean"] * 100, yerr=error, color=COLORS.get(method, "grey"),
                              marker="*" if method == "teacher" else MARKERS.get(row["n"], "o"), markersize=8, capsize=3,
                              linestyle="none", markerfacecolor="none" if invalid else None,
                              label=label + (" (timing invalid)" if invalid else ""))
        axes.set_title(task)
        axes.set_xlabel("measured speedup over the teacher (x)")
        axes.set_ylabel("accuracy (%), 95% bootstrap interval")
        axes.grid(alpha=0.3)
        if not here["speedup"].notna().any():
            axes.text(0.5, 0.02, "no timing profile found: speedup not measured", transform=axes.transAxes, ha="center")
    handles, labels = axes_row[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.suptitle(f"{backbone}: accuracy against measured speedup")
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    figure.legend(unique.values(), unique.keys(), loc="lower center", ncol=min(len(unique), 3), fontsize=8)
    return figure


def speedup_vs_n(profiles: pd.DataFrame, backbone: str):
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    rows = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if rows.empty:
        _message(axes, "no timing profile for this backbone")
        return figure
    for (p, batch, length), group in rows.groupby(["p", "batch", "length"]):
        layers = int(group["num_layers"].iloc[0])
        ns = np.linspace(1, max(group["n"].max(), 2), 100)
        axes.plot(ns, [analytic_ceiling(layers, p, n) for n in ns], color="grey", linestyle="--",
                  label=f"ceiling L/(P+(L-P)/N), L={layers}, P={p}")
        for method in _methods(group):
            points = group[group.method == method].sort_values("n")
            axes.plot(points["n"], points["speedup"], marker="o", color=COLORS.get(method, "grey"),
                      label=f"{method} (batch {batch} x {length})")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("N (instances per composite)")
    axes.set_ylabel("measured speedup over the teacher (x)")
    axes.set_title(f"{backbone}: speedup against N ({rows['hardware'].iloc[0]})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def memory_energy_vs_n(profiles: pd.DataFrame, backbone: str):
    figure, (memory_axes, energy_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    rows = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if rows.empty:
        _message(memory_axes, "no timing profile for this backbone")
        _message(energy_axes, "no timing profile for this backbone")
        return figure
    for method in _methods(rows):
        points = rows[rows.method == method].sort_values("n")
        for batch, group in points.groupby("batch"):
            memory_axes.plot(group["n"], group["multiplexed_peak_memory_bytes"] / 1e6, marker="o",
                             color=COLORS.get(method, "grey"), label=f"{method} (batch {batch})")
            if group["multiplexed_energy_per_sample_j"].notna().any():
                energy_axes.plot(group["n"], group["multiplexed_energy_per_sample_j"], marker="o",
                                 color=COLORS.get(method, "grey"), label=f"{method} (batch {batch})")
    teacher = rows.groupby("batch")[["teacher_peak_memory_bytes", "teacher_energy_per_sample_j"]].mean()
    for batch, values in teacher.iterrows():
        memory_axes.plot([1], [values["teacher_peak_memory_bytes"] / 1e6], marker="*", markersize=12, color="black",
                         linestyle="none", label=f"teacher (batch {batch})")
        if pd.notna(values["teacher_energy_per_sample_j"]):
            energy_axes.plot([1], [values["teacher_energy_per_sample_j"]], marker="*", markersize=12, color="black",
                             linestyle="none", label=f"teacher (batch {batch})")
    source = rows["memory_source"].iloc[0].replace("_", " ")
    memory_axes.set_xlabel("N (instances per composite; teacher at 1)")
    memory_axes.set_ylabel(f"peak memory (MB, {source})")
    memory_axes.grid(alpha=0.3)
    memory_axes.legend(fontsize=8)
    if rows["multiplexed_energy_per_sample_j"].notna().any():
        energy_axes.set_xlabel("N (instances per composite; teacher at 1)")
        energy_axes.set_ylabel("GPU energy per sample (J)")
        energy_axes.grid(alpha=0.3)
        energy_axes.legend(fontsize=8)
    else:
        reason = rows["energy_unavailable"].dropna()
        _message(energy_axes, "energy not measured here:\n" + (reason.iloc[0] if len(reason) else "no reading"))
    figure.suptitle(f"{backbone}: memory and energy against N")
    figure.tight_layout()
    return figure


def agreement(summary: pd.DataFrame, backbone: str):
    rows = summary[(summary.backbone == backbone) & (summary.method != "teacher")]
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4.5))
    if rows.empty:
        _message(axes, "no multiplexed runs for this backbone")
        return figure
    labels = [f"{r.task}\n{r.method} N={r.n}" for r in rows.itertuples()]
    axes.bar(range(len(rows)), rows["agreement_with_teacher"] * 100,
             color=[COLORS.get(m, "grey") for m in rows["method"]])
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
            buffer = io.BytesIO()
            figures[name].savefig(buffer, format="svg")
            plt.close(figures[name])
            atomic_write_bytes(path, buffer.getvalue())
            written.append(path)
    return written
