"""Verdicts computed from the summary table: which option beats which within the intervals on both axes,
which options no other beats (the Pareto front), and whether any beats the teacher's accuracy.

X dominates Y (same task and backbone, both timed at the summary's one setting) when
- X's accuracy minus Y's has a 95% interval not below 0: a paired hierarchical bootstrap, with the same drawn
  seeds (by seed index: seed s of every option shares seed s's teacher, data and examples) and examples;
- X's speed-up over Y's has a 95% interval not below 1x (each profile's draws over its timed rounds: the noise
  within one timing run only); and
- at least one of the two lies strictly above (0 points, 1x).
An accuracy difference counts only where the two options share at least MIN_SEEDS seeds: with one seed,
seed-to-seed variation was not measured, so no accuracy difference is called a win, no option dominates
another and there is no Pareto front; only speed differences are stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from revmux.analysis.bootstrap import accuracy_interval, mean_over_seeds, percentile_interval
from revmux.analysis.references import match_references
from revmux.analysis.tables import (
    BOOTSTRAP_RESAMPLES, ONE_CLASS_SHARE, SUMMARY_KEYS, TEACHER_MARGIN, check_teachers, is_above_majority, is_quantized,
    is_weak_teacher, method_label,
    option_speed, seed_vectors, speedup_text, summary_table,
)

MIN_SEEDS = 3  # with 2, a percentile interval over seeds is about their [min, max]; even 3 is indicative only
# How far reruns of one profile in fresh processes moved its speed-up on this project's CPU: revmux N=2 measured
# 1.270x, 1.323x and 1.310x (benchmarks/cpu/profile_cpu.txt), 4% apart. Options are timed in different processes,
# so the within-run interval of a speed-up ratio is widened by this much each way before a speed difference counts.
RUN_TO_RUN_MARGIN = 0.05
VERDICT_NOTE = (
    "Computed from the summary table. X dominates Y when X's accuracy minus Y's (paired: the same seeds, by seed "
    "index, and the same examples) has an interval not below 0 points, X's speed-up over Y's has an interval not "
    "below 1x, and at least one of the two lies strictly above. The accuracy interval is the wider of a 95% "
    "bootstrap drawing seeds, then one set of examples shared by every drawn seed, and Student's t interval over "
    "the seeds' means (a bootstrap over 3 seeds never reaches past the extreme seeds). The speed-up interval is a "
    f"bootstrap over each profile's timed rounds, widened by {RUN_TO_RUN_MARGIN:.0%} each way per independently "
    "timed profile, in quadrature (about 7% between two options, 5% against the teacher), for how much reruns of "
    "one profile move its speed-up on this project's CPU; an option whose timing is invalid is left out. The "
    "Pareto front: the options no other option dominates, less any whose accuracy interval does not clear the "
    f"majority class's rate. Accuracy differences need at least {MIN_SEEDS} seeds, "
    "and with so few seeds they are indicative only; every pair of options is compared, with no correction for "
    "the number of comparisons. A speed-up measured on int8 kernels holds for the CPU it was measured on. "
    f"A teacher whose interval's low end is not above the majority class's rate plus {TEACHER_MARGIN * 100:.0f} points "
    "is called weak: against it, staying close says little. How close each option stays to the teacher: the low "
    "end of its paired change's interval, per N. Published values (a reference file) differ from ours where they "
    "lie outside our 95% accuracy interval."
)
ONE_SEED = (f"Seed-to-seed variation was not measured with at least {MIN_SEEDS} seeds: no accuracy difference is called a win, no option is "
            "said to dominate another and no Pareto front is drawn; only speed differences are stated.")
NO_TEACHER_WIN = "No option beats the teacher's accuracy within the intervals."


@dataclass(frozen=True)
class Verdict:
    task: str
    backbone: str
    kind: str  # scope, front, chance, teacher, dominates, speed, untimed, floor, closeness, health, published
    text: str
    options: tuple[str, ...] = ()  # the option labels the sentence is about, in its order


def option_key(row) -> tuple:
    return tuple(row[key] for key in SUMMARY_KEYS)


def _labels(here: pd.DataFrame) -> dict[tuple, str]:
    several_p = here["p"].nunique() > 1
    return {option_key(row): method_label(row) + (f" P={row['p']}" if several_p else "") for _, row in here.iterrows()}


def dominates(accuracy_low: float, ratio_low: float) -> bool:
    """The rule: neither interval below (0 points, 1x), at least one strictly above."""
    return accuracy_low >= 0 and ratio_low >= 1 and (accuracy_low > 0 or ratio_low > 1)


def with_run_to_run(low: float, high: float, profiles: int = 1) -> tuple[float, float]:
    """A speed-up (or ratio) interval over one run's rounds, widened by how much reruns move it: once per
    independently timed profile in it, added in quadrature on the log scale (two profiles: about 7%)."""
    factor = (1 + RUN_TO_RUN_MARGIN) ** np.sqrt(profiles)
    return low / factor, high * factor


def compare(x, y, vectors: dict, draws: dict, resamples: int, seed: int = 0) -> dict:
    """X against Y: the paired accuracy difference over their common seeds, the ratio of their speed-ups, and
    which (if either) dominates the other."""
    kx, ky = option_key(x), option_key(y)
    common = sorted(set(vectors.get(kx, {})) & set(vectors.get(ky, {})))
    for s in common:
        if vectors[kx][s][0].shape != vectors[ky][s][0].shape:
            raise ValueError(f"seed {s} of {kx} and {ky} was evaluated on different examples: they cannot be paired")
    difference = [vectors[kx][s][0] - vectors[ky][s][0] for s in common]
    low, high = accuracy_interval(difference, resamples, seed) if common else (np.nan, np.nan)
    size = next((len(draws[k]) for k in (kx, ky) if draws.get(k) is not None), resamples)

    def speed_draws(key) -> np.ndarray:  # the teacher's speed-up is 1 by definition: no draws
        return np.ones(size) if draws.get(key) is None else np.asarray(draws[key])

    ratio_low, ratio_high = percentile_interval(speed_draws(kx) / speed_draws(ky))
    # each option's speed-up moves between reruns on its own; the teacher's is 1 by definition
    ratio_low, ratio_high = with_run_to_run(ratio_low, ratio_high, sum(draws.get(k) is not None for k in (kx, ky)))
    # An invalid timing decides nothing: the option is left out of dominance and of the front.
    timings_valid = all(_timing_valid(row) for row in (x, y))
    decided = len(common) >= MIN_SEEDS and timings_valid
    winner = None
    if decided and dominates(low, ratio_low):
        winner = "x"
    elif decided and dominates(-high, 1 / ratio_high):
        winner = "y"
    return {
        "task": x["task"], "backbone": x["backbone"], "x": kx, "y": ky, "seeds": len(common),
        "accuracy_difference": mean_over_seeds(difference) if common else np.nan,
        "accuracy_ci_low": low, "accuracy_ci_high": high,
        "speedup_ratio": x["speedup"] / y["speedup"], "ratio_ci_low": ratio_low, "ratio_ci_high": ratio_high,
        "accuracy_decided": decided, "dominates": winner, "timings_valid": timings_valid,
    }


def _timing_valid(row) -> bool:
    """The option's own profile passed its validity checks (the teacher's speed-up is 1 by definition)."""
    if row["method"] == "identity":
        return True
    valid = row.get("profile_valid")
    return valid is None or pd.isna(valid) or bool(valid)


def comparisons(summary: pd.DataFrame, vectors: dict, draws: dict, resamples: int, seed: int = 0) -> pd.DataFrame:
    """Every pair of timed options of the same task and backbone (`vectors`: per option and seed the examples'
    accuracies, `tables.seed_vectors`; `draws`: per option its speed-up's bootstrap draws, None for the teacher)."""
    rows = []
    timed = summary[summary["speedup"].notna()] if "speedup" in summary else summary.iloc[0:0]
    for _, here in timed.groupby(["task", "backbone"], sort=False):
        options = [row for _, row in here.iterrows()]
        for index, x in enumerate(options):
            rows += [compare(x, y, vectors, draws, resamples, seed) for y in options[index + 1:]]
    return pd.DataFrame(rows, columns=["task", "backbone", "x", "y", "seeds", "accuracy_difference", "accuracy_ci_low",
                                       "accuracy_ci_high", "speedup_ratio", "ratio_ci_low", "ratio_ci_high",
                                       "accuracy_decided", "dominates", "timings_valid"])


def pareto_front(summary: pd.DataFrame, pairs: pd.DataFrame) -> dict[tuple, bool | None]:
    """Per option of the summary: on the front (dominated by no other option within the intervals), or None
    where undecided: untimed, run with fewer than MIN_SEEDS seeds, or in a task and backbone where no two
    options share MIN_SEEDS seeds."""
    front: dict[tuple, bool | None] = {option_key(row): None for _, row in summary.iterrows()}
    for (task, backbone), here in pairs.groupby(["task", "backbone"], sort=False):
        if not here["accuracy_decided"].any():
            continue
        timed = summary[(summary.task == task) & (summary.backbone == backbone) & summary["speedup"].notna()]
        # An option at chance pushes nothing off the front: being beaten by a constant answer's equal says
        # nothing about an option that is itself shown above that floor.
        above = {option_key(row): is_above_majority(row) for _, row in timed.iterrows()}
        dominated = {row["y"] if row["dominates"] == "x" else row["x"] for _, row in here.iterrows()
                     if row["dominates"] in ("x", "y") and above.get(row["x"] if row["dominates"] == "x" else row["y"], True)}
        for _, row in timed[timed["seeds"] >= MIN_SEEDS].iterrows():  # one seed: never dominated, never a winner
            if _timing_valid(row):  # an invalid timing: undecided
                # Not shown above the majority class: its speed buys an accuracy a constant answer has.
                front[option_key(row)] = option_key(row) not in dominated and is_above_majority(row)
    return front


def machine(profiles: pd.DataFrame, backbone: str) -> str:
    """The machine and setting the speed-ups were measured at, e.g. 'cpu AMD EPYC, AVX2, float32, 2 threads,
    batch 32 x 64'."""
    rows = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if rows.empty:
        return "no timing profile"
    first = rows.iloc[0]
    parts = [f"{first['device']} {' / '.join(sorted(rows['hardware'].dropna().unique()))}"]
    if first["device"] == "cpu":
        parts += sorted({str(k).split(";")[0] for k in rows["cpu_kernels"].dropna()})
    parts.append(str(first["dtype"]))
    if first["device"] == "cpu":
        parts.append(f"{int(first['threads'])} thread{'s' if int(first['threads']) != 1 else ''}")
    return ", ".join(parts + [f"batch {int(first['batch'])} x {int(first['length'])}"])


def _portability(rows: list, profiles: pd.DataFrame, backbone: str) -> str | None:
    """The clause any verdict about a quantized path carries: which kernels its speed-up holds for."""
    schemes = sorted({str(row["method"]).partition("+")[2] for row in rows if is_quantized(row["method"])})
    if not schemes:
        return None
    here = profiles[profiles.backbone == backbone] if not profiles.empty else profiles
    if not here.empty and here.iloc[0]["device"] != "cpu":
        return f"with {', '.join(schemes)} this holds for this GPU ({' / '.join(sorted(here['hardware'].unique()))}) only"
    kernels = sorted(here["cpu_kernels"].dropna().unique()) if not here.empty else []
    where = f"({' / '.join(kernels)})" if kernels else "(their instruction level was not recorded)"
    return f"with {', '.join(schemes)} this holds for this machine's CPU kernels {where} only"


def _caveats(rows: list, labels: dict, profiles: pd.DataFrame, backbone: str, speed: bool = True) -> str:
    """The clauses a verdict about these options carries: the kernels a quantized path's numbers hold for (its
    accuracy moves with them too), and, for a speed claim, invalid or suspect timings."""
    clauses = [_portability(rows, profiles, backbone)]
    for row in rows if speed else []:
        label = labels[option_key(row)]
        # The teacher's speed-up is 1 by definition, measured inside the other option's own profile.
        invalid = row.get("profile_valid") is not None and pd.notna(row["profile_valid"]) and not bool(row["profile_valid"])
        if invalid and row["method"] != "identity":
            clauses.append(f"the timing of {label} is marked invalid (see the profiles)")
        if row.get("ceiling_flag") == "suspect":
            clauses.append(f"{label}'s speed-up is suspect (above its FLOP ceiling beyond its interval, or with an invalid profile)")
    text = "; ".join(clause for clause in clauses if clause)
    return f"; {text}" if text else ""


def on_front(row) -> bool:
    value = row.get("pareto_front")
    return value is not None and not pd.isna(value) and bool(value)


def _signed(value: float) -> str:
    """Points with one decimal, or as many more (up to 3) as it takes not to print a nonzero bound as +0.0."""
    points = value * 100
    for decimals in (1, 2, 3):
        if round(points, decimals) != 0 or points == 0:
            break
    return f"{points:+.{decimals}f}"


def _points(value, low, high) -> str:
    return f"{_signed(value)} points [{_signed(low)}, {_signed(high)}]"


def verdicts(summary: pd.DataFrame, pairs: pd.DataFrame, profiles: pd.DataFrame) -> list[Verdict]:
    """The verdict sentences, per task and backbone, from the summary (with its `pareto_front` column) and the
    pairwise comparisons."""
    found = []
    for (task, backbone), here in summary.groupby(["task", "backbone"], sort=False):
        labels = _labels(here)
        rows = {option_key(row): row for _, row in here.iterrows()}
        timed = [row for row in rows.values() if pd.notna(row.get("speedup"))]
        mine = pairs[(pairs.task == task) & (pairs.backbone == backbone)]
        on_machine = f"On this machine ({machine(profiles, backbone)})"

        def say(kind: str, text: str, *options) -> None:
            found.append(Verdict(task, backbone, kind, text, tuple(labels[k] for k in options)))

        decided = len(mine) > 0 and bool(mine["accuracy_decided"].any())
        several = [row for row in rows.values() if row["seeds"] >= MIN_SEEDS]
        if not several:
            say("scope", ONE_SEED)
        elif len(several) < len(rows):
            single = [option_key(row) for row in rows.values() if row["seeds"] < MIN_SEEDS]
            say("scope", f"Seed-to-seed variation was not measured with at least {MIN_SEEDS} seeds for "
                         f"{', '.join(labels[k] for k in single)}: no accuracy difference involving {'it' if len(single) == 1 else 'them'} is called "
                         "a win.", *single)
        if decided:
            front = sorted((row for row in timed if on_front(row)), key=lambda row: row["speedup"])
            keys = [option_key(row) for row in front]
            # "Not shown dominated", not "best": with 3 seeds an option can trail another on every seed and still
            # stay on the front because the interval cannot resolve it.
            if keys:
                say("front", f"{on_machine}, not shown to be dominated by any other option within the intervals (the "
                             f"Pareto front, as far as {MIN_SEEDS} or more seeds resolve it): "
                             f"{', '.join(labels[k] for k in keys)}{_caveats(front, labels, profiles, backbone)}.", *keys)
            else:
                say("front", f"{on_machine}, no option is on the Pareto front: each one that no other dominates is "
                             "not shown above the majority class (below).")
            # Every option at chance, an invalid timing's too: its accuracy is reason enough to keep it off.
            floor = [row for row in timed if row["seeds"] >= MIN_SEEDS and not is_above_majority(row)]
            if floor:
                keys = [option_key(row) for row in floor]
                say("chance", f"Not shown above the majority class's {floor[0]['majority_rate'] * 100:.1f}% (the low end "
                             "of the 95% interval is not above it), and so left off the front: "
                             + "; ".join(f"{labels[option_key(row)]} {_interval(row)}" for row in floor)
                             + f"; {_against_majority(floor, labels)}"
                             f"{_caveats(floor, labels, profiles, backbone, speed=False)}.", *keys)
            for row in (row for row in timed if not _timing_valid(row)):
                say("invalid", f"{labels[option_key(row)]} is left out of the dominance verdicts and the front"
                               f"{_caveats([row], labels, profiles, backbone)}.", option_key(row))
        if several:
            winners = [row for row in several if row["method"] != "identity" and row["delta_ci_low"] > 0]
            for row in winners:
                say("teacher", f"{labels[option_key(row)]} is more accurate than the teacher: "
                               f"{_points(row['delta_vs_teacher'], row['delta_ci_low'], row['delta_ci_high'])} "
                               f"(each seed paired with its own teacher, {int(row['seeds'])} seeds)"
                               f"{_caveats([row], labels, profiles, backbone, speed=False)}.", option_key(row))
            if not winners:
                say("teacher", NO_TEACHER_WIN)
        for _, pair in mine[mine["dominates"].notna()].iterrows():
            forward = pair["dominates"] == "x"
            winner, loser = (pair["x"], pair["y"]) if forward else (pair["y"], pair["x"])
            sign = 1 if forward else -1
            low, high = sorted((sign * pair["accuracy_ci_low"], sign * pair["accuracy_ci_high"]))
            ratio = pair["speedup_ratio"] ** sign
            ratio_low, ratio_high = sorted((pair["ratio_ci_low"] ** sign, pair["ratio_ci_high"] ** sign))
            speed = speedup_text(ratio, ratio_low, ratio_high) + (" faster" if ratio_low > 1 else
                                                                  " as fast, within the interval")
            say("dominates", f"{on_machine}, {labels[winner]} dominates {labels[loser]}: "
                             f"{_points(sign * pair['accuracy_difference'], low, high)} and {speed}"
                             f"{_caveats([rows[winner], rows[loser]], labels, profiles, backbone)}.", winner, loser)
        if not decided:
            for row in timed:
                if row["method"] == "identity":
                    continue
                low, high = row["speedup_ci_low"], row["speedup_ci_high"]
                low, high = with_run_to_run(low, high)  # one profile: the option's own
                relation = ("is faster than the teacher" if low > 1 else "is slower than the teacher" if high < 1
                            else "does not differ from the teacher in speed within the interval")
                say("speed", f"{on_machine}, {labels[option_key(row)]} {relation}: "
                             f"{speedup_text(row['speedup'], low, high)}{_caveats([row], labels, profiles, backbone)}.",
                    option_key(row))
        untimed = [key for key, row in rows.items() if pd.isna(row.get("speedup"))]
        if not timed:
            say("untimed", "No option has a timing profile: no speed verdict, no dominance and no Pareto front.")
        elif untimed:
            say("untimed", f"{', '.join(labels[k] for k in untimed)}: no timing profile at this setting, left out of "
                           "the speed verdicts.", *untimed)
    return found


def _against_majority(floor, labels) -> str:
    """How always answering the majority class compares with options not shown above it: as well within the
    intervals, and better than any option whose whole interval lies below the majority rate."""
    below = [labels[option_key(row)] for row in floor if row["accuracy_ci_high"] < row["majority_rate"]]
    said = [] if len(below) == len(floor) else ["as well within the intervals"]
    if below:
        said.append(f"better than {', '.join(below)} (the whole interval below its rate)")
    return "always answering the majority class scores " + ", and ".join(said)


def _interval(row) -> str:
    return f"{row['accuracy_mean'] * 100:.1f}% [{row['accuracy_ci_low'] * 100:.1f}, {row['accuracy_ci_high'] * 100:.1f}]"


def _seed_scope(rows) -> str:
    """What the intervals of these rows cover, where it is less than seeds and examples."""
    return " (one seed: the intervals cover the examples only)" if any(row["seeds"] < 2 for row in rows) else ""


def teacher_verdicts(summary: pd.DataFrame) -> list[Verdict]:
    """Per task, backbone and P: does the teacher clear the majority class by TEACHER_MARGIN at the low end of
    its 95% interval (`tables.check_teachers` sets `weak_teacher`)."""
    found = []
    if "majority_rate" not in summary:
        return found
    for (task, backbone), here in summary.groupby(["task", "backbone"], sort=False):
        labels = _labels(here)
        for _, row in here[here["method"] == "identity"].iterrows():
            if pd.isna(row["majority_rate"]):
                continue
            label, floor = labels[option_key(row)], row["majority_rate"] * 100
            if is_weak_teacher(row):
                text = (f"The {label} is weak: {_interval(row)} does not clear the majority class's {floor:.1f}% by "
                        f"{TEACHER_MARGIN * 100:.0f} points at its low end; every change against it below measures "
                        "little, and a multiplexer near it may only be answering the majority class")
            else:
                text = (f"The {label} clears the majority class's {floor:.1f}% by more than {TEACHER_MARGIN * 100:.0f} "
                        f"points at the low end of its interval: {_interval(row)}")
            found.append(Verdict(task, backbone, "floor", text + _seed_scope([row]) + ".", (label,)))
    return found


def closeness_verdicts(summary: pd.DataFrame, profiles: pd.DataFrame) -> list[Verdict]:
    """Per task and backbone, one sentence per N: how many points each option can lose against the teacher,
    read off the low end of its paired change's 95% interval (seeds and examples), closest first."""
    found = []
    for (task, backbone), here in summary.groupby(["task", "backbone"], sort=False):
        labels = _labels(here)
        teachers = here[here["method"] == "identity"]
        weak = any(is_weak_teacher(row) for _, row in teachers.iterrows())
        for n, options in here[here["method"] != "identity"].groupby("n", sort=True):
            rows = sorted((row for _, row in options.iterrows()), key=lambda row: -row["delta_ci_low"])
            parts = []
            for row in rows:
                loss = -row["delta_ci_low"] * 100
                bound = f"within {loss:.1f} points" if loss > 0 else f"no loss (at least {-loss:+.1f} points)"
                parts.append(f"{labels[option_key(row)]} {bound} "
                             f"({_points(row['delta_vs_teacher'], row['delta_ci_low'], row['delta_ci_high'])})")
            against = "a weak teacher (above)" if weak else "the teacher"
            scope = f"At N={n}" if n > 1 else "Without multiplexing (N=1)"
            below = [labels[option_key(row)] for row in rows if row["seeds"] >= MIN_SEEDS and row["delta_ci_high"] < 0]
            losses = f"; below {against} beyond the interval: {', '.join(below)}" if below else ""
            found.append(Verdict(task, backbone, "closeness",
                                 f"{scope}, how far each stays from {against}, by the low end of its paired change's "
                                 f"95% interval: {'; '.join(parts)}{losses}{_seed_scope(rows)}"
                                 f"{_caveats(rows, labels, profiles, backbone, speed=False)}.",
                                 tuple(labels[option_key(row)] for row in rows)))
    return found


def _seeds_text(seeds) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(seed) for seed in seeds)}"


def health_verdicts(summary: pd.DataFrame, profiles: pd.DataFrame) -> list[Verdict]:
    """Per task and backbone: the runs whose training did not take (validation kept the weights as initialised)
    and the runs that give (nearly) one answer to every example, by option and seed; or that there are none."""
    found = []
    if "untrained_seeds" not in summary:
        return found
    for (task, backbone), here in summary.groupby(["task", "backbone"], sort=False):
        labels = _labels(here)
        rows = {option_key(row): row for _, row in here.iterrows()}
        untrained = [(option_key(row), row["untrained_seeds"]) for _, row in here.iterrows() if len(row["untrained_seeds"])]
        one_class = [(option_key(row), row["one_class_seeds"]) for _, row in here.iterrows() if len(row["one_class_seeds"])]
        if untrained:
            found.append(Verdict(task, backbone, "health",
                                 "Kept the weights they started from (validation preferred epoch 0: nothing they learned "
                                 "helped): " + "; ".join(f"{labels[key]} ({_seeds_text(seeds)})" for key, seeds in untrained)
                                 + f"{_caveats([rows[key] for key, _ in untrained], labels, profiles, backbone, speed=False)}"
                                 + ". Their cells measure the initialisation, not the method trained.",
                                 tuple(labels[key] for key, _ in untrained)))
        if one_class:
            found.append(Verdict(task, backbone, "health",
                                 f"Give one class to more than {ONE_CLASS_SHARE:.0%} of the examples: "
                                 + "; ".join(f"{labels[key]} ({_seeds_text(seeds)})" for key, seeds in one_class)
                                 + f"{_caveats([rows[key] for key, _ in one_class], labels, profiles, backbone, speed=False)}.",
                                 tuple(labels[key] for key, _ in one_class)))
        if not untrained and not one_class:
            found.append(Verdict(task, backbone, "health",
                                 f"Every trained run kept a trained epoch, and none gives one class to more than "
                                 f"{ONE_CLASS_SHARE:.0%} of the examples."))
    return found


def published_verdicts(summary: pd.DataFrame, matches: pd.DataFrame, profiles: pd.DataFrame) -> list[Verdict]:
    """Per task and backbone: where a published value lies outside our 95% interval (one sentence each), and
    which published values it contains (one sentence)."""
    found = []
    if matches.empty:
        return found
    for (task, backbone), here in summary.groupby(["task", "backbone"], sort=False):
        labels = _labels(here)
        mine = matches[(matches.task == task) & (matches.backbone == backbone)]
        agree, agreeing = [], []
        for _, match in mine.iterrows():
            row = here[(here.method == match["method"]) & (here.n == match["n"]) & (here.p == match["p"])].iloc[0]
            label = labels[option_key(row)]
            published = (f"{match['published']:.1f}% published"
                         + (f" for {match['published_backbone']}" if match["published_backbone"] != backbone else "")
                         + f" ({match['source']})")
            if match["outside_interval"]:
                side = "below" if match["difference"] < 0 else "above"
                found.append(Verdict(task, backbone, "published",
                                     f"{label} differs from the published value beyond our interval: ours "
                                     f"{_interval(row)}, {published}; ours is {abs(match['difference']):.1f} points "
                                     f"{side} it{_seed_scope([row])}"
                                     f"{_caveats([row], labels, profiles, backbone, speed=False)}.", (label,)))
            else:
                agree.append(f"{label} ({published})")
                agreeing.append(row)
        if agree:
            found.append(Verdict(task, backbone, "published",
                                 f"Within our 95% interval of the published value: {'; '.join(agree)}"
                                 f"{_caveats(agreeing, labels, profiles, backbone, speed=False)}.",
                                 tuple(labels[option_key(row)] for row in agreeing)))
    return found


def verdicts_markdown(found: list[Verdict], level: int = 3) -> str:
    """The verdict sentences as Markdown: a heading per task and backbone, one bullet per sentence."""
    parts = []
    groups: dict[tuple, list[Verdict]] = {}
    for verdict in found:
        groups.setdefault((verdict.task, verdict.backbone), []).append(verdict)
    for (task, backbone), lines in groups.items():
        parts += [f"{'#' * level} {task}, {backbone}", ""] + [f"- {line.text}" for line in lines] + [""]
    return "\n".join(parts)


def judged_summary(runs: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]], profiles: pd.DataFrame,
                   resamples: int = BOOTSTRAP_RESAMPLES, majority: dict[str, float] | None = None,
                   references: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[Verdict]]:
    """The summary table (`tables.summary_table`, with its `pareto_front` column, and with `majority`, the
    majority-class rate per task, `tables.check_teachers`'s), every pairwise comparison and the verdicts, from
    the runs' correctness matrices and the profile rows at one setting; with `references`
    (`references.read_references`), the published values our intervals do and do not contain."""
    summary = summary_table(runs, profiles, resamples)
    if majority is not None:
        summary = check_teachers(summary, majority)
    keys = [option_key(row) for _, row in summary.iterrows()]
    draws = {key: option_speed(profiles, *key[1:])["draws"] for key in keys}
    pairs = comparisons(summary, seed_vectors(runs), draws, resamples)
    front = pareto_front(summary, pairs)
    summary["pareto_front"] = pd.Series([front[key] for key in keys], index=summary.index, dtype=object)
    found = (verdicts(summary, pairs, profiles) + teacher_verdicts(summary) + closeness_verdicts(summary, profiles)
             + health_verdicts(summary, profiles) + published_verdicts(summary, match_references(summary, references), profiles))
    return summary, pairs, found
