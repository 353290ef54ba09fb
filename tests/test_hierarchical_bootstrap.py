"""The accuracy intervals resample seeds, then one set of examples that every drawn seed shares (each example
keeping all its regroupings), and a paired difference gives both sides the same drawn seeds and examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from revmux.analysis.tables import summary_table


def exactly(accuracy: float, examples: int, rng: np.random.Generator) -> np.ndarray:
    """A 0/1 vector with exactly this share of ones, in random order."""
    values = np.zeros(examples)
    values[: round(accuracy * examples)] = 1
    return rng.permutation(values)


def run(seed: int, method: str, correct: np.ndarray, teacher: np.ndarray):
    row = {"task": "t", "backbone": "b", "method": method, "n": 2, "p": 1, "seed": seed,
           "random_init": False, "backbone_provenance": "x"}
    return row, correct, teacher, (correct == teacher).astype(float)


def test_two_seeds_far_apart_give_an_interval_that_spans_both_seed_means():
    # Seed 0's pipeline reaches 60%, seed 1's 90%, each on 2,000 examples x 3 regroupings. Resampling examples
    # alone (seeds stacked as rows) gives about +-1.5 points around 75%, as if the next seed had to land there;
    # resampling seeds first spans both seeds' means. The change against each seed's own teacher (80% in both)
    # is -20 and +10 points: its interval spans both too.
    rng = np.random.default_rng(0)
    runs = []
    for seed, accuracy in ((0, 0.6), (1, 0.9)):
        correct = np.vstack([exactly(accuracy, 2000, rng) for _ in range(3)])
        teacher = np.vstack([exactly(0.8, 2000, rng)] * 3)
        runs.append(run(seed, "revmux", correct, teacher))
    row = summary_table(runs, pd.DataFrame(), resamples=2000).iloc[0]
    assert row["accuracy_mean"] == pytest.approx(0.75)
    assert row["accuracy_ci_low"] < 0.62 and row["accuracy_ci_high"] > 0.88, (row["accuracy_ci_low"], row["accuracy_ci_high"])
    assert row["delta_ci_low"] < -0.18 and row["delta_ci_high"] > 0.08, (row["delta_ci_low"], row["delta_ci_high"])
    assert row["accuracy_seed_sd"] == pytest.approx(np.std([0.6, 0.9], ddof=1))
    assert row["delta_seed_sd"] == pytest.approx(np.std([-0.2, 0.1], ddof=1))


def test_with_one_seed_it_is_the_example_bootstrap_and_says_the_seeds_spread_was_not_measured():
    from revmux.analysis.bootstrap import hierarchical_ci, seed_sd
    from revmux.analysis.tables import display_summary

    correct = np.array([1.0, 0.0] * 50)  # 100 examples, accuracy 0.5, standard error 0.05
    low, high = hierarchical_ci([correct], resamples=4000)
    assert 0.39 < low < 0.42 and 0.58 < high < 0.61
    assert hierarchical_ci([correct], resamples=4000) == (low, high)  # seeded
    assert hierarchical_ci([np.ones(20)]) == (1.0, 1.0)
    assert seed_sd([correct]) is None
    summary = summary_table([run(0, "revmux", correct[None, :], correct[None, :])], pd.DataFrame(), resamples=200)
    shown = display_summary(summary).iloc[0]
    assert shown["sd over seeds"] == "n/a (1 seed)" and shown["Δ sd over seeds"] == "n/a (1 seed)"


def test_an_example_keeps_all_its_regroupings_together():
    # 100 examples, each right in all 10 regroupings or wrong in all: 100 draws of information, not 1,000.
    correct = np.repeat(np.array([1.0, 0.0] * 50)[None, :], 10, axis=0)
    row = summary_table([run(0, "revmux", correct, correct)], pd.DataFrame(), resamples=4000).iloc[0]
    assert row["accuracy_ci_high"] - row["accuracy_ci_low"] > 0.17  # about 4 standard errors of 100 examples


def test_a_paired_difference_draws_the_same_seeds_and_examples_for_both_sides():
    from revmux.analysis.bootstrap import hierarchical_ci

    # The teachers of the three seeds differ a lot (60, 75, 90%); each seed's method is right wherever its teacher
    # is, and on 1% more examples. Paired on the same draws, the seeds' spread cancels: the change stays near +1
    # point (only which examples are drawn moves it), while the accuracy itself moves with the seed.
    rng = np.random.default_rng(1)
    runs = []
    for seed, accuracy in enumerate((0.6, 0.75, 0.9)):
        teacher = exactly(accuracy, 1000, rng)
        method = teacher.copy()
        method[np.flatnonzero(teacher == 0)[:10]] = 1
        runs.append(run(seed, "revmux", method[None, :], teacher[None, :]))
    row = summary_table(runs, pd.DataFrame(), resamples=1000).iloc[0]
    assert 0 < row["delta_ci_low"] < 0.01 < row["delta_ci_high"] < 0.02
    assert row["accuracy_ci_high"] - row["accuracy_ci_low"] > 0.2


def test_a_speedup_interval_resamples_the_timed_rounds_together():
    from revmux.analysis.bootstrap import percentile_interval, speedup_draws

    teacher = np.array([1.30, 1.32, 1.28, 1.31, 1.29, 1.35, 1.27, 1.30])
    path = np.array([1.00, 1.01, 0.99, 1.00, 1.00, 1.03, 0.98, 1.00])  # moves with the teacher, round by round
    low, high = percentile_interval(speedup_draws(teacher, path, 2000, seed=3))
    assert low <= teacher.mean() / path.mean() <= high and high - low < 0.02
    assert percentile_interval(speedup_draws(np.full(5, 2.0), np.ones(5))) == (2.0, 2.0)
    with pytest.raises(ValueError, match="must pair up"):
        speedup_draws(teacher, path[:3])


def test_seeds_evaluated_on_the_same_examples_share_one_draw_of_them():
    # Two seeds that got every example right or wrong alike: the seeds add nothing, so the interval is the
    # examples' own. Drawing examples afresh for each seed would shrink it by about sqrt(2).
    from revmux.analysis.bootstrap import hierarchical_ci

    correct = (np.random.default_rng(0).random(800) < 0.75).astype(float)
    one_low, one_high = hierarchical_ci([correct], resamples=4000)
    two_low, two_high = hierarchical_ci([correct, correct.copy()], resamples=4000)
    assert (two_high - two_low) == pytest.approx(one_high - one_low, rel=0.1)


def test_seeds_on_different_examples_are_refused():
    from revmux.analysis.bootstrap import hierarchical_ci

    with pytest.raises(ValueError, match="same examples"):
        hierarchical_ci([np.ones(10), np.ones(12)])
