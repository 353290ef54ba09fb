"""Figures of the accuracy-speed trade-off, drawn from the aggregated tables (summary.csv, speed.csv),
and of training, drawn from the runs' history.json.

One set per backbone: accuracy against measured speedup (per task, with 95% intervals, the teacher
as reference and each N's ceiling marked), measured speedup against N with the ceiling curve,
peak memory and energy per sample against N, agreement with the teacher's predictions, and the
training curves (validation accuracy and training loss per epoch, the epoch each run kept marked).
The accuracy-speed figure draws both axes' 95% intervals, rings the options on the Pareto front the
verdicts found (`revmux.analysis.verdicts`) and marks a speed-up above its ceiling.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global figure registry, no GUI backend to choose
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from revmux.core.atomic import atomic_write_svg  # noqa: E402
from revmux.core.layout import FIGURES  # noqa: E402
from revmux.analysis.tables import HARDWARE_KEYS, METHOD_ORDER, method_label  # noqa: E402

COLORS = {"identity": "black", "adapter": "tab:orange", "ora": "tab:green", "hadamard": "tab:purple", "revmux": "tab:blue",
          "truncate": "tab:red"}
MARKERS = {2: "o", 3: "v", 4: "s", 8: "D"}
LINESTYLES = {2: "-", 3: "-.", 4: "--", 8: ":"}
HISTORY_COLUMNS = ["task", "backbone", "method", "n", "p", "seed", "epoch", "validation_accuracy", "train_loss", "selected"]
SELECTED_EPOCH = "selected-epoch"  # the gid (SVG id) of the markers on the epoch each run kept


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


CEILING_FLAG = "ceiling-flag"  # the gid (SVG id) of the text marking a speed-up above its ceiling
PARETO_FRONT = "pareto-front"  # the gid of the rings around the options on the Pareto front
OWN_CEILING = "own-ceiling"  # the gid of the tick at a truncation's own ceiling
NO_FRONT = "one seed: no Pareto front (seed-to-seed variation not measured)"


def _present(row, column: str) -> bool:
    return column in row and pd.notna(row[column])


def _is_multiplexer(method: str) -> bool:
    return method.split("+")[0] not in ("identity", "truncate") and "+" not in method


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
        # one line per N: the speed-up if multiplexing cost nothing (each multiplexer's own ceiling, with its
        # mux and demux counted, is below it and flags its row)
        column = "cost_free_ceiling" if "cost_free_ceiling" in here else "ceiling"
        multiplexers = here[here["method"].map(_is_multiplexer) & here[column].notna()]
        for n in sorted(set(multiplexers["n"])):
            ceiling = multiplexers[multiplexers.n == n][column].iloc[0]
            axes.axvline(ceiling, color="grey", linestyle=":", linewidth=1)
            axes.annotate(f"cost-free ceiling N={n}", (ceiling, 1.0), xycoords=("data", "axes fraction"),
                          rotation=90, va="top", ha="right", fontsize=8, color="grey")
        for method in _methods(here):
            for _, row in here[here.method == method].iterrows():
                if pd.isna(row["speedup"]):
                    continue
                x, y = row["speedup"], row["accuracy_mean"] * 100
                error = [[y - row["accuracy_ci_low"] * 100], [row["accuracy_ci_high"] * 100 - y]]
                timed_interval = (_present(row, "speedup_ci_low") and _present(row, "speedup_ci_high")
                                  and row["speedup_ci_high"] > row["speedup_ci_low"])  # the teacher's is exactly 1
                xerror = [[x - row["speedup_ci_low"]], [row["speedup_ci_high"] - x]] if timed_interval else None
                invalid = row.get("profile_valid") is not None and pd.notna(row["profile_valid"]) and not row["profile_valid"]
                axes.errorbar(x, y, yerr=error, xerr=xerror, color=_color(method),
                              marker=_marker(method, row["n"]), markersize=8, capsize=3,
                              linestyle="none", markerfacecolor="none" if invalid else None,
                              label=method_label(row) + (" (timing invalid)" if invalid else ""))
                if not _is_multiplexer(method) and method != "identity" and _present(row, "ceiling"):
                    # a truncation's own ceiling (the multiplexers' are the vertical lines)
                    axes.plot([row["ceiling"]], [y], marker="|", markersize=14, color=_color(method), linestyle="none",
                              label="FLOP ceiling of a truncation", gid=OWN_CEILING)
                flag = row.get("ceiling_flag")
                if isinstance(flag, str):
                    suspect = flag == "suspect"
                    axes.annotate("SUSPECT: above ceiling" if suspect else "above ceiling", (x, y), xytext=(6, 6),
                                  textcoords="offset points", fontsize=7, color="red" if suspect else "grey",
                                  fontweight="bold" if suspect else "normal", gid=CEILING_FLAG)
        timed = here[here["speedup"].notna()]
        decided = timed["pareto_front"].notna() if "pareto_front" in timed else pd.Series(False, index=timed.index)
        if decided.any():
            front = timed[timed["pareto_front"].map(lambda value: value in (True, "True"))]
            axes.plot(front["speedup"], front["accuracy_mean"] * 100, marker="o", markersize=18, markerfacecolor="none",
                      markeredgecolor="grey", markeredgewidth=2, alpha=0.6, linestyle="none", zorder=0, gid=PARETO_FRONT,
                      label="Pareto front: dominated by no other option within the intervals")
        elif len(timed) > 1:
            axes.text(0.02, 0.02, NO_FRONT, transform=axes.transAxes, fontsize=8, color="grey")
        axes.set_title(task)
        axes.set_xlabel("measured throughput over the teacher's (speed-up, x), 95% interval over timed rounds")
        axes.set_ylabel("accuracy (%), 95% interval (seeds, then examples)")
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
        # the teacher is timed in every profile: its number is the median over them, as in the tables
        teacher = group[["teacher_peak_memory_bytes", "teacher_energy_per_sample_j"]].median()
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


def history_table(histories: list[dict]) -> pd.DataFrame:
    """One row per run and epoch of `revmux train` histories (history.json): the validation accuracy that
    selects the epoch, the training loss (none at epoch 0, before training) and whether it is the epoch kept."""
    rows = []
    for history in histories:
        config = history["config"]
        run = {"task": config["data"]["task"], "backbone": config["backbone"], "method": config["method"],
               "n": config["n"], "p": config["prefill_layers"], "seed": config["seed"]}
        rows += [{**run, "epoch": record["epoch"], "validation_accuracy": record["validation_accuracy"],
                  "train_loss": record.get("train_loss"), "selected": record["epoch"] == history["selected_epoch"]}
                 for record in history["history"]]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _seed_mean(axes, run: pd.DataFrame, column: str, scale: float, label: str, **style) -> None:
    """The mean over seeds per epoch, and the seeds' range shaded when there are several."""
    per_epoch = run.groupby("epoch")[column].agg(["mean", "min", "max"]) * scale
    axes.plot(per_epoch.index, per_epoch["mean"], label=label, **style)
    if run["seed"].nunique() > 1:
        axes.fill_between(per_epoch.index, per_epoch["min"], per_epoch["max"], color=style["color"], alpha=0.15, linewidth=0)


def training_curves(histories: pd.DataFrame, backbone: str):
    """Per task (a row of panels): validation accuracy and training loss against the epoch, one line per
    method, N and P; a run that trained nothing (the teacher) is its accuracy as a horizontal reference."""
    rows = histories[histories.backbone == backbone]
    tasks = list(dict.fromkeys(rows["task"]))
    figure = Figure(figsize=(12, 2.5 + 4 * max(len(tasks), 1)))
    seeds = rows.groupby(["task", "method", "n", "p"])["seed"].nunique()
    figure.suptitle(f"{backbone}: validation accuracy and training loss per epoch"
                    + (" (lines: mean over seeds, shaded: the seeds' range)" if (seeds > 1).any() else ""))
    if rows.empty:
        _message(figure.subplots(), "no training history for this backbone: this grid trains no multiplexer on it")
        return figure
    panels = figure.subplots(len(tasks), 2, squeeze=False, sharex="row")
    several_p = rows["p"].nunique() > 1
    for (accuracy_axes, loss_axes), task in zip(panels, tasks):
        here = rows[rows.task == task]
        for method in _methods(here):
            for (n, p), run in here[here.method == method].groupby(["n", "p"]):
                label = method_label({"method": method, "n": n}) + (f" P={p}" if several_p else "")
                style = {"color": _color(method), "linestyle": LINESTYLES.get(n, "-"), "marker": _marker(method, n),
                         "markersize": 4, "linewidth": 1.5}
                if run["epoch"].max() == 0:
                    accuracy = run["validation_accuracy"].mean() * 100
                    accuracy_axes.axhline(accuracy, color=style["color"], linestyle="--", linewidth=1,
                                          label=f"{label} (no epoch trained)")
                    continue
                _seed_mean(accuracy_axes, run, "validation_accuracy", 100, label, **style)
                _seed_mean(loss_axes, run.dropna(subset=["train_loss"]), "train_loss", 1, label, **style)
                kept = run[run["selected"]]
                accuracy_axes.plot(kept["epoch"], kept["validation_accuracy"] * 100, linestyle="none", marker="*",
                                   markersize=14, color=style["color"], markeredgecolor="black", gid=SELECTED_EPOCH)
        accuracy_axes.set_title(f"{task}: validation accuracy (the split that picks the epoch kept)", fontsize=10)
        accuracy_axes.set_ylabel("validation accuracy (%)")
        loss_axes.set_title(f"{task}: training loss", fontsize=10)
        loss_axes.set_ylabel("training loss (mean over the epoch's batches)")
        for axes in (accuracy_axes, loss_axes):
            axes.set_xlabel("epoch (0: before training)")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
    legend = {}
    for axes in panels[:, 0]:
        handles, labels = axes.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    legend["epoch kept (best validation accuracy), one star per seed"] = Line2D(
        [], [], linestyle="none", marker="*", markersize=12, color="grey", markeredgecolor="black")
    columns = min(len(legend), 3)
    legend_height = 0.3 + 0.22 * -(-len(legend) // columns)  # inches: a line per row of entries
    figure.tight_layout(rect=(0, legend_height / figure.get_figheight(), 1, 0.97))
    figure.legend(legend.values(), legend.keys(), loc="lower center", ncol=columns, fontsize=8)
    return figure


def draw_all(summary: pd.DataFrame, profiles: pd.DataFrame, histories: pd.DataFrame, backbones: list[str],
             out: Path) -> list[Path]:
    written = []
    for backbone in backbones:
        figures = {
            "accuracy-vs-speedup": accuracy_vs_speedup(summary, backbone),
            "speedup-vs-n": speedup_vs_n(profiles, backbone),
            "memory-energy-vs-n": memory_energy_vs_n(profiles, backbone),
            "agreement": agreement(summary, backbone),
            "training-curves": training_curves(histories, backbone),
        }
        for name, path in figure_paths(out, backbone).items():
            atomic_write_svg(path, figures[name])
            written.append(path)
    return written
