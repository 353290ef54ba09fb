"""Verdicts computed from the summary table: dominance within the intervals on both axes, the Pareto front,
the teacher's accuracy, the one-seed case; and the speed columns they read: ceilings only where defined, a
speed-up above its ceiling flagged, one rule (the median over profiles) for every speed number, and the
weights and working-set columns."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from revmux.analysis.tables import NOT_RECORDED, display_summary, method_label, profiles_table
from revmux.analysis.verdicts import (
    MIN_SEEDS, NO_TEACHER_WIN, ONE_SEED, dominates, judged_summary, option_key, verdicts_markdown,
)

RESAMPLES = 500
MACHINE = "cpu AMD EPYC, AVX2, float32, 2 threads, batch 32 x 64"


def profile(method: str, n: int, speedup: float, ceiling: float, spread: float = 0.01, valid: bool = True,
            reasons: tuple = (), teacher_per_s: float | None = None, memory: dict | None = None, depth=None,
            seed: int = 0) -> dict:
    """A speed profile as `revmux speed` writes it, as far as the tables read it: 30 timed rounds whose per-round
    speed-ups scatter by `spread` around `speedup`, the FLOPs that give `ceiling`."""
    rng = np.random.default_rng(seed)
    path = np.full(30, 0.3)
    teacher = path * speedup * rng.normal(1, spread, 30)
    if teacher_per_s is not None:
        scale = 32 / teacher_per_s / teacher.mean()
        teacher, path = teacher * scale, path * scale
    recorded = {"weights_bytes": 90_000_000, "working_set_bytes": 40_000_000} if memory is None else memory

    def latency(values):
        return {"values": list(values), "samples_per_s": 32 / values.mean(), "p50": float(np.median(values)), "cv": 0.01}

    def path_memory():
        return {"peak_bytes": 120_000_000, "peak_source": "host RSS", "unavailable": dict(recorded.get("unavailable", {})),
                **{k: v for k, v in recorded.items() if k != "unavailable"}}

    ratios = teacher / path
    return {
        "settings": {"backbone": "minilm-l6", "method": method, "n": n, "prefill_layers": 3, "batch_size": 32,
                     "length": 64, "device": "cpu", "dtype": "float32", "threads": 2},
        "backbone": {"name": "minilm-l6", "num_layers": 6, "random_init": False},
        "speedup": {"measured": float(teacher.mean() / path.mean()), "ceiling": ceiling if "+" not in method else 1.0,
                    "per_round": {"values": list(ratios), "stdev": float(ratios.std(ddof=1)), "cv": spread}},
        "flops_per_sample": {"teacher": 6e9, "multiplexed": 6e9 / ceiling, "ratio": ceiling},
        "latency": {"teacher": latency(teacher), "multiplexed": latency(path)},
        "memory": {"paths": {"teacher": path_memory(), "multiplexed": path_memory()}},
        "energy": {name: {"per_sample": None, "net_per_sample": None, "unavailable": {"gpu": "no NVIDIA GPU"}}
                   for name in ("teacher", "multiplexed")},
        "environment": {"host": {"cpu": "AMD EPYC", "torch_threads": 2, "cpu_capability": "AVX2",
                                 "int8_instructions": []}, "gpu": None},
        "validity": {"valid": valid, "reasons": list(reasons)},
        "method_path": {"depth": depth},
    }


def runs(method: str, n: int, accuracies: list[float], examples: int = 600, depth=None) -> list[tuple]:
    """One run per seed: seed s's teacher right on 80% of the examples (its own draw), the method on `accuracies[s]`
    (the teacher's own predictions for identity, and nearly them for identity+int8)."""
    found = []
    for seed, accuracy in enumerate(accuracies):
        teacher = (np.random.default_rng(seed).random((2, examples)) < 0.8).astype(float)
        rng = np.random.default_rng([seed, n, len(method), sum(map(ord, method))])
        if method.startswith("identity"):  # the teacher; on int8, its predictions with 2% of them flipped
            correct = np.abs(teacher - (rng.random((2, examples)) < (0.02 if "+" in method else 0)))
        else:
            correct = (rng.random((2, examples)) < accuracy).astype(float)
        row = {"task": "rt-polarity", "backbone": "minilm-l6", "method": method, "n": n, "p": 3, "seed": seed,
               "random_init": False, "backbone_provenance": "wheel", "depth": depth}
        found.append((row, correct, teacher, (correct == teacher).astype(float)))
    return found


def grid(seeds: int):
    """Teacher 80%; truncation more accurate and faster than RevMUX N=2; adapter N=2 indistinguishable from RevMUX
    N=2 on both axes; the int8 teacher as accurate as the teacher and faster; Hadamard N=4 fastest and worst."""
    return judged_summary(*grid_inputs(seeds), RESAMPLES)


def grid_inputs(seeds: int):
    """The runs and the profiles of `grid`."""
    def accuracy(value):
        return [value + 0.005 * s for s in range(seeds)]

    everything = (runs("identity", 1, accuracy(0.8)) + runs("revmux", 2, accuracy(0.72))
                  + runs("adapter", 2, accuracy(0.722)) + runs("truncate", 2, accuracy(0.84), depth=5)
                  + runs("identity+int8", 1, accuracy(0.8)) + runs("hadamard", 4, accuracy(0.62)))
    profiles = profiles_table([
        profile("revmux", 2, 1.30, 1.333, seed=1), profile("adapter", 2, 1.30, 1.333, seed=2),
        profile("truncate", 2, 1.55, 1.6, depth=5, seed=3), profile("identity+int8", 1, 1.38, 1.0, seed=4),
        profile("hadamard", 4, 1.70, 1.6, spread=0.05, seed=5),
    ], RESAMPLES)
    return everything, profiles


def labels(summary: pd.DataFrame) -> dict:
    return {option_key(row): method_label(row) for _, row in summary.iterrows()}


def front_from(summary: pd.DataFrame, pairs: pd.DataFrame) -> set:
    """The front recomputed from the pairwise intervals alone, by the stated rule."""
    dominated = set()
    for _, pair in pairs.iterrows():
        if pair["seeds"] < MIN_SEEDS:
            continue
        if dominates(pair["accuracy_ci_low"], pair["ratio_ci_low"]):
            dominated.add(pair["y"])
        if dominates(-pair["accuracy_ci_high"], 1 / pair["ratio_ci_high"]):
            dominated.add(pair["x"])
    return {option_key(row) for _, row in summary.iterrows() if pd.notna(row["speedup"])} - dominated


def listed_front(found) -> set[str]:
    line = next(v.text for v in found if v.kind == "front")
    return set(re.search(r"resolve it\): (.*?)(;|\.$)", line).group(1).split(", "))


def test_the_verdicts_agree_with_the_pareto_front_of_the_table():
    summary, pairs, found = grid(seeds=3)
    names = labels(summary)
    front = front_from(summary, pairs)
    assert listed_front(found) == {names[key] for key in front}
    # truncation is more accurate than the teacher, the int8 teacher and RevMUX, and faster than each of them
    assert {names[key] for key in front} == {"truncate 5 layers (FLOPs of revmux N=2)", "hadamard N=4"}
    assert set(summary.loc[summary["pareto_front"] == True, "method"]) == {"truncate", "hadamard"}  # noqa: E712
    dominated = set()
    for verdict in (v for v in found if v.kind == "dominates"):
        winner, loser = verdict.options
        dominated.add(loser)
        pair = pairs[pairs.apply(lambda p: {names[p["x"]], names[p["y"]]} == {winner, loser}, axis=1)].iloc[0]
        forward = names[pair["x"]] == winner
        low = pair["accuracy_ci_low"] if forward else -pair["accuracy_ci_high"]
        ratio_low = pair["ratio_ci_low"] if forward else 1 / pair["ratio_ci_high"]
        assert low >= 0 and ratio_low >= 1 and (low > 0 or ratio_low > 1), verdict.text
        assert verdict.text.startswith(f"On this machine ({MACHINE}), {winner} dominates {loser}: ")
    assert not dominated & listed_front(found)  # nothing dominated is listed on the front
    # two options whose intervals overlap on both axes: no verdict either way
    for _, pair in pairs.iterrows():
        if pair["accuracy_ci_low"] < 0 < pair["accuracy_ci_high"] and pair["ratio_ci_low"] < 1 < pair["ratio_ci_high"]:
            assert not any(v.kind == "dominates" and set(v.options) == {names[pair["x"]], names[pair["y"]]} for v in found)
    assert not any(v.kind == "dominates" and set(v.options) == {"revmux N=2", "adapter N=2"} for v in found)
    assert any(v.kind == "dominates" and v.options == ("truncate 5 layers (FLOPs of revmux N=2)", "revmux N=2")
               for v in found)
    assert NO_TEACHER_WIN not in [v.text for v in found]  # truncation is more accurate than the teacher here
    assert any(v.kind == "teacher" and v.options == ("truncate 5 layers (FLOPs of revmux N=2)",) for v in found)
    # every verdict about the int8 teacher says whose kernels it holds for
    assert any("teacher on int8" in v.options for v in found)
    for verdict in found:
        if "teacher on int8" in verdict.options:
            assert "this holds for this machine's CPU kernels (AVX2; int8 dot-product instructions: none) only" in verdict.text, verdict.text


def test_an_option_not_shown_above_the_majority_class_is_left_off_the_front_and_named():
    """Hadamard N=4 (62%) is on the front of the grid for its speed; with a majority class of 65% a constant
    answer scores as well, so its speed buys nothing shown: off the front, named with its interval."""
    everything, profiles = grid_inputs(seeds=3)
    summary, _, found = judged_summary(everything, profiles, RESAMPLES, majority={"rt-polarity": 0.65})
    assert listed_front(found) == {"truncate 5 layers (FLOPs of revmux N=2)"}
    assert summary.set_index("method").loc["hadamard", "pareto_front"] is False
    chance = [v for v in found if v.kind == "chance"]
    assert [v.options for v in chance] == [("hadamard N=4",)]
    assert chance[0].text.startswith("Not shown above the majority class's 65.0% (the low end of the 95% interval "
                                     "is not above it), and so left off the front: hadamard N=4 62.")
    # a floor above every option: no front at all, said in so many words
    _, _, found = judged_summary(everything, profiles, RESAMPLES, majority={"rt-polarity": 0.95})
    front = next(v for v in found if v.kind == "front")
    assert front.options == () and "no option is on the Pareto front" in front.text
    assert set(next(v for v in found if v.kind == "chance").options) >= {"teacher", "truncate 5 layers (FLOPs of revmux N=2)"}
    # a floor below every option changes nothing
    summary, _, found = judged_summary(everything, profiles, RESAMPLES, majority={"rt-polarity": 0.5})
    assert listed_front(found) == {"truncate 5 layers (FLOPs of revmux N=2)", "hadamard N=4"}
    assert not any(v.kind == "chance" for v in found)


def test_an_option_wholly_below_the_majority_class_is_said_to_score_worse_than_it_not_as_well():
    """At a majority rate of 80%, the teacher's interval [76.8, 80.2] reaches it (a constant answer scores as well),
    while the others' intervals lie wholly below it: there the constant answer scores better, and saying "as well"
    would flatter them."""
    everything, profiles = grid_inputs(seeds=3)
    _, _, found = judged_summary(everything, profiles, RESAMPLES, majority={"rt-polarity": 0.80})
    chance = next(v for v in found if v.kind == "chance").text
    assert ("; always answering the majority class scores as well within the intervals, and better than teacher on "
            "int8, adapter N=2, hadamard N=4, revmux N=2 (the whole interval below its rate)") in chance
    _, _, found = judged_summary(everything, profiles, RESAMPLES, majority={"rt-polarity": 0.95})
    chance = next(v for v in found if v.kind == "chance").text
    assert "scores as well" not in chance
    assert "; always answering the majority class scores better than teacher, teacher on int8, adapter N=2" in chance


def test_one_seed_yields_no_accuracy_win_only_speed():
    summary, pairs, found = grid(seeds=1)
    texts = [v.text for v in found]
    assert texts[0] == ONE_SEED
    assert not any(v.kind in ("dominates", "front", "teacher") for v in found)
    assert not any("dominates" in text or "more accurate" in text for text in texts)
    assert summary["pareto_front"].isna().all() and not pairs["accuracy_decided"].any()
    speed = {v.options[0]: v.text for v in found if v.kind == "speed"}
    assert set(speed) == {"revmux N=2", "adapter N=2", "truncate 5 layers (FLOPs of revmux N=2)", "teacher on int8",
                          "hadamard N=4"}
    assert re.search(r"revmux N=2 is faster than the teacher: 1\.\d\dx \[1\.\d\d, 1\.\d\d\]\.$", speed["revmux N=2"])
    assert "CPU kernels (AVX2; int8 dot-product instructions: none)" in speed["teacher on int8"]
    markdown = verdicts_markdown(found)
    assert markdown.startswith("### rt-polarity, minilm-l6\n\n- Seed-to-seed variation was not measured")


def test_a_speedup_above_its_ceiling_is_marked_and_one_whose_interval_is_above_it_is_suspect_with_its_cause():
    profiles = profiles_table([
        profile("revmux", 2, 1.34, 1.333, spread=0.05, seed=1),  # above, but its interval reaches below the ceiling
        # noisy rounds (sd 0.17x) yet an interval wholly above the ceiling: a noisier profile is not harder to flag
        profile("adapter", 4, 1.75, 1.6, spread=0.1, seed=6),
        profile("hadamard", 4, 1.75, 1.6, spread=0.01, valid=False, seed=2,
                reasons=("teacher: coefficient of variation 12.0% is above 10%",)),
        profile("ora", 4, 1.70, 1.6, spread=0.01, seed=3),  # suspect, and the profile passed its checks
        profile("identity+int8", 1, 2.2, 1.0, seed=4),  # quantized: no ceiling to be above
        profile("truncate", 2, 1.21, 1.2, depth=5, seed=5),
    ], RESAMPLES)
    rows = profiles.set_index("method")
    assert rows.loc["revmux", "ceiling_flag"] == "above ceiling"
    assert rows.loc["hadamard", "ceiling_flag"] == "suspect"
    assert rows.loc["adapter", "ceiling_flag"] == "suspect"
    assert "likely cause: teacher profile invalid: teacher: coefficient of variation" in rows.loc["hadamard", "ceiling_flag_reason"]
    assert "passed them" in rows.loc["ora", "ceiling_flag_reason"]
    assert pd.isna(rows.loc["identity+int8", "ceiling"]) and pd.isna(rows.loc["identity+int8", "ceiling_flag"])
    assert "changes the cost of each FLOP, not their number" in rows.loc["identity+int8", "ceiling_source"]
    assert rows.loc["truncate", "ceiling"] == pytest.approx(1.2)  # the counted FLOPs, teacher / truncated model
    everything = (runs("identity", 1, [0.8] * MIN_SEEDS) + runs("hadamard", 4, [0.6] * MIN_SEEDS)
                  + runs("identity+int8", 1, [0.8] * MIN_SEEDS))
    summary, _, found = judged_summary(everything, profiles, RESAMPLES)
    shown = display_summary(summary).set_index("method")
    assert shown.loc["hadamard N=4", "speedup (measured, 95% CI)"].endswith("(INVALID: see profiles) SUSPECT: above ceiling")
    assert shown.loc["teacher on int8", "ceiling"] == "n/a (quantized)"
    assert any("hadamard N=4's speed-up is suspect" in v.text for v in found)
    assert NO_TEACHER_WIN in [v.text for v in found]


def test_every_speed_number_is_the_median_over_its_profiles_and_memory_says_why_it_is_missing():
    unavailable = {"weights_bytes": None, "working_set_bytes": 30_000_000,
                   "unavailable": {"weights_bytes": "the weights process was killed"}}
    profiles = profiles_table([
        profile("revmux", 2, 1.3, 1.333, teacher_per_s=50.0, seed=1, memory=unavailable),
        profile("adapter", 2, 1.3, 1.333, teacher_per_s=60.0, seed=2, memory={}),  # written before the keys existed
        profile("ora", 2, 1.3, 1.333, teacher_per_s=100.0, seed=3),
    ], RESAMPLES)
    everything = runs("identity", 1, [0.8]) + runs("revmux", 2, [0.7]) + runs("adapter", 2, [0.7]) + runs("ora", 2, [0.7])
    summary, _, _ = judged_summary(everything, profiles, RESAMPLES)
    rows = summary.set_index("method")
    assert rows.loc["identity", "teacher_samples_per_s"] == pytest.approx(60.0)  # median, not the mean (70)
    assert rows.loc["identity", "throughput_samples_per_s"] == pytest.approx(60.0)
    assert rows.loc["identity", "weights_bytes"] == 90_000_000 and rows.loc["identity", "profiles"] == 3
    shown = display_summary(summary).set_index("method")
    assert shown.loc["revmux N=2", "weights (MB)"] == "n/a" and shown.loc["revmux N=2", "working set (MB)"] == "30"
    assert "the weights process was killed" in rows.loc["revmux", "memory_note"]
    assert shown.loc["adapter N=2", "weights (MB)"] == "–" and shown.loc["adapter N=2", "working set (MB)"] == "–"
    assert rows.loc["adapter", "memory_note"] == NOT_RECORDED
    assert shown.loc["ora N=2", "weights (MB)"] == "90" and shown.loc["ora N=2", "working set (MB)"] == "40"


def test_an_option_run_with_one_seed_among_several_wins_nothing_on_accuracy_and_is_not_on_the_front():
    everything = (runs("identity", 1, [0.8, 0.8, 0.8]) + runs("revmux", 2, [0.72, 0.72, 0.72])
                  + runs("truncate", 2, [0.9], depth=5))  # far more accurate, but one seed
    profiles = profiles_table([profile("revmux", 2, 1.30, 1.333, seed=1),
                               profile("truncate", 2, 1.45, 1.5, depth=5, seed=2)], RESAMPLES)
    summary, _, found = judged_summary(everything, profiles, RESAMPLES)
    truncate = "truncate 5 layers (FLOPs of revmux N=2)"
    assert found[0].kind == "scope" and found[0].options == (truncate,)
    assert not any(truncate in v.options for v in found if v.kind in ("dominates", "teacher"))
    assert listed_front(found) == {"teacher", "revmux N=2"}
    assert summary.set_index("method").loc["truncate", "pareto_front"] is None


def test_few_seeds_widen_the_accuracy_interval_to_students_t():
    """Three seeds whose paired differences are +5, +8 and +0.2 points, on examples with little noise: a
    bootstrap over the seeds stays above 0 (it never reaches past the extreme seed), Student's t over 2 degrees
    of freedom reaches below it, so the difference is not a win."""
    from revmux.analysis.bootstrap import accuracy_interval, hierarchical_ci

    differences = [np.full(600, d) + np.random.default_rng(s).normal(0, 0.01, 600) for s, d in enumerate((0.05, 0.08, 0.002))]
    assert hierarchical_ci(differences, resamples=RESAMPLES)[0] > 0
    low, high = accuracy_interval(differences, resamples=RESAMPLES)
    assert low < 0 < high
    assert accuracy_interval([differences[0]], resamples=RESAMPLES) == hierarchical_ci([differences[0]], resamples=RESAMPLES)


def test_two_timed_options_get_the_run_to_run_margin_once_each_in_quadrature():
    """Two options each timed in its own profile: each speed-up can move by the margin between reruns, so
    their ratio's interval is widened by (1 + margin) ** sqrt(2); against the teacher (1 by definition) once."""
    from revmux.analysis.verdicts import RUN_TO_RUN_MARGIN, compare

    x = {"task": "t", "backbone": "b", "method": "revmux", "n": 2, "p": 3, "speedup": 1.2, "profile_valid": True}
    y = {**x, "method": "truncate", "speedup": 1.0}
    teacher = {**x, "method": "identity", "n": 1, "speedup": 1.0}
    vectors = {option_key(row): {s: [np.ones(10)] for s in range(3)} for row in (x, y, teacher)}
    draws = {option_key(x): np.full(100, 1.2), option_key(y): np.full(100, 1.0), option_key(teacher): None}
    both = compare(x, y, vectors, draws, RESAMPLES)
    assert both["ratio_ci_low"] == pytest.approx(1.2 / (1 + RUN_TO_RUN_MARGIN) ** np.sqrt(2))
    assert both["ratio_ci_high"] == pytest.approx(1.2 * (1 + RUN_TO_RUN_MARGIN) ** np.sqrt(2))
    one = compare(x, teacher, vectors, draws, RESAMPLES)
    assert one["ratio_ci_low"] == pytest.approx(1.2 / (1 + RUN_TO_RUN_MARGIN))


def test_a_multiplexers_ceiling_counts_its_own_mux_and_demux():
    """The ceiling is the speed-up if time followed the counted FLOPs of the path as it runs, mux and demux
    included; the cost-free (a + b) / (a + b / N) is kept beside it for the figure."""
    from revmux.analysis.tables import profile_row

    timed = profile("revmux", 2, speedup=1.30, ceiling=1.29)
    timed["speedup"]["ceiling"] = 1.33  # (a + b) / (a + b / N): multiplexing for free
    timed["speedup"]["ceiling_parts"] = {"per_instance_flops": 1.0, "per_composite_flops": 1.0}
    row = profile_row(timed, resamples=RESAMPLES)
    assert row["ceiling"] == pytest.approx(1.29) and row["cost_free_ceiling"] == pytest.approx(1.33)
    assert row["ceiling_flag"] in ("above ceiling", "suspect")


def test_runs_that_kept_their_initial_weights_or_answer_one_class_are_named_by_option_and_seed():
    everything = runs("identity", 1, [0.8, 0.8, 0.8]) + runs("revmux", 2, [0.72, 0.5, 0.5]) + runs("adapter", 2, [0.7] * 3)
    for row, *_ in everything:
        row["selected_epoch"] = None if row["method"] == "identity" else (0 if row["method"] == "revmux" and row["seed"] > 0 else 2)
        row["top_class_share"] = 0.99 if row["method"] == "revmux" and row["seed"] == 2 else 0.55
    _, _, found = judged_summary(everything, profiles_table([], RESAMPLES), RESAMPLES)
    health = [v.text for v in found if v.kind == "health"]
    assert any("Kept the weights they started from" in text and "revmux N=2 (seeds 1, 2)" in text and "adapter" not in text
               for text in health), health
    assert any("more than 95% of the examples: revmux N=2 (seed 2)." in text for text in health), health

    for row, *_ in everything:
        row["selected_epoch"], row["top_class_share"] = (None if row["method"] == "identity" else 1), 0.6
    _, _, found = judged_summary(everything, profiles_table([], RESAMPLES), RESAMPLES)
    assert [v.text for v in found if v.kind == "health"] == [
        "Every trained run kept a trained epoch, and none gives one class to more than 95% of the examples."]


def test_the_closeness_verdict_names_the_options_below_the_teacher_beyond_their_interval():
    _, _, found = grid(seeds=3)
    at_four = next(v.text for v in found if v.kind == "closeness" and v.text.startswith("At N=4"))
    assert at_four.endswith("below the teacher beyond the interval: hadamard N=4."), at_four
    at_two = next(v.text for v in found if v.kind == "closeness" and v.text.startswith("At N=2"))
    assert "below the teacher beyond the interval: revmux N=2, adapter N=2" in at_two, at_two
    assert "truncate" not in at_two.partition("beyond the interval:")[2], at_two


def test_an_interval_bound_close_to_zero_is_not_printed_as_zero():
    from revmux.analysis.verdicts import _points

    assert _points(-0.079, -0.158, 0.0004) == "-7.9 points [-15.8, +0.04]"
    assert _points(-0.079, -0.158, -0.00004) == "-7.9 points [-15.8, -0.004]"
    assert _points(0.0, -0.01, 0.01) == "+0.0 points [-1.0, +1.0]"


def test_an_option_at_chance_pushes_no_option_above_chance_off_the_front():
    """Y is not shown above the majority class (a wide interval) yet 'dominates' X, which is: X stays on the
    front, Y is off it; without the floor Y's win would count."""
    from revmux.analysis.verdicts import pareto_front

    rows = [{"task": "rte", "backbone": "minilm-l6", "method": method, "n": n, "p": 3, "speedup": speedup, "seeds": 3,
             "profile_valid": True, "above_majority": above}
            for method, n, speedup, above in (("identity", 1, 1.0, True), ("revmux", 2, 1.3, False))]
    summary = pd.DataFrame(rows)
    teacher, revmux = (option_key(row) for _, row in summary.iterrows())
    pairs = pd.DataFrame([{"task": "rte", "backbone": "minilm-l6", "x": teacher, "y": revmux, "dominates": "y",
                           "accuracy_decided": True}])
    assert pareto_front(summary, pairs) == {teacher: True, revmux: False}
    summary["above_majority"] = True
    assert pareto_front(summary, pairs) == {teacher: False, revmux: True}
