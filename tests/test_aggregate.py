"""Aggregation: the statistics on hand-made cases, then a tiny real grid (teacher, RevMUX over two
seeds, one timing profile) aggregated into tables and figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from revmux.cli import main
from revmux.errors import RevmuxError
from revmux.results import collect
from revmux.tables import bootstrap_mean_ci, paired_delta, summary_table

# --- hand-made cases -------------------------------------------------------------------------------


def test_bootstrap_interval_of_a_constant_is_that_constant():
    assert bootstrap_mean_ci(np.ones((3, 20))) == (1.0, 1.0)


def test_bootstrap_interval_of_half_right_is_about_two_standard_errors_wide():
    correct = np.array([[1.0, 0.0] * 50])  # 100 examples, accuracy 0.5, standard error 0.05
    low, high = bootstrap_mean_ci(correct, resamples=4000)
    assert 0.39 < low < 0.42 and 0.58 < high < 0.61
    assert bootstrap_mean_ci(correct, resamples=4000) == (low, high)  # seeded


def test_paired_delta_counts_only_examples_where_the_two_differ():
    teacher = np.array([[1, 1, 1, 0, 0, 0, 1, 1, 0, 1]], dtype=float)
    method = np.array([[1, 1, 1, 1, 1, 0, 0, 1, 0, 1]], dtype=float)  # right on 3 and 4, wrong on 6
    delta = paired_delta(method, teacher)
    assert delta.tolist() == [[0, 0, 0, 1, 1, 0, -1, 0, 0, 0]]
    assert delta.mean() == pytest.approx(0.1)
    low, high = bootstrap_mean_ci(delta)
    assert low <= 0.1 <= high and -0.2 <= low and high <= 0.4
    with pytest.raises(ValueError, match="same examples"):
        paired_delta(method, teacher[:, :5])


def test_summary_pools_seeds_and_regroupings_over_the_same_examples():
    def run(seed, method, rows):
        row = {"task": "t", "backbone": "b", "method": method, "n": 2 if method != "teacher" else 1, "p": 1,
               "seed": seed, "random_init": False, "backbone_provenance": "x"}
        correct = np.array(rows, dtype=float)
        teacher = np.array([[1, 1, 0, 0]] * len(rows), dtype=float)
        return row, correct, teacher, (correct == teacher).astype(float)

    runs = [run(0, "revmux", [[1, 1, 0, 0], [1, 0, 0, 0]]), run(1, "revmux", [[1, 1, 1, 0], [1, 1, 0, 0]])]
    summary = summary_table(runs, pd.DataFrame(), resamples=200)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["seeds"] == 2 and row["regroupings"] == 4 and row["examples"] == 4
    assert row["accuracy_mean"] == pytest.approx(8 / 16)
    assert row["accuracy_sd"] == pytest.approx(np.std([0.5, 0.25, 0.75, 0.5], ddof=1))
    assert row["teacher_accuracy"] == 0.5 and row["delta_vs_teacher"] == pytest.approx(0.0)
    assert row["agreement_with_teacher"] == pytest.approx(14 / 16)
    assert row["speedup"] is None  # no profile: left empty, not invented


# --- a tiny real grid ------------------------------------------------------------------------------

DATA = ["--task", "rt-polarity", "--train-size", "64", "--validation-size", "32", "--eval-size", "40", "--max-length", "32"]
RUN = ["--backbone", "minilm-l6", "-p", "3", "--epochs", "1", "--batch-size", "16", "--eval-regroupings", "3"]


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory, resources):
    results = tmp_path_factory.mktemp("tiny") / "results"
    common = ["--results", str(results), "--resources", str(resources)]
    assert main(["--threads", "2", "teacher", *DATA, *common, "--backbone", "minilm-l6", "--mode", "head", "--epochs", "1"]) == 0
    for method, n, seed in (("teacher", 1, 0), ("revmux", 2, 0), ("revmux", 2, 1)):
        for verb in ("train", "evaluate"):
            arguments = [verb, *DATA, *common, *RUN, "--method", method, "--n", str(n), "--seed", str(seed)]
            assert main(["--threads", "2", *arguments]) == 0
    profile = results / "profile" / "minilm-l6" / "revmux-n2-p3-b8-len16.json"
    assert main(["profile", "--backbone", "minilm-l6", "--method", "revmux", "--n", "2", "-p", "3", "--batch-size", "8",
                 "--length", "16", "--warmup-runs", "1", "--min-iterations", "3", "--min-duration", "0",
                 "--memory-runs", "1", "--no-progress", "--resources", str(resources), "--out", str(profile)]) == 0
    return results


def test_aggregate_gives_one_row_per_run_and_the_expected_summary(tiny_results):
    assert main(["aggregate", "--results", str(tiny_results)]) == 0
    tables = tiny_results / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    assert list(zip(runs.method, runs.n, runs.seed)) == [("teacher", 1, 0), ("revmux", 2, 0), ("revmux", 2, 1)]
    metrics = {
        seed: json.loads((tiny_results / "rt-polarity" / "minilm-l6" / f"revmux-n2-p3-s{seed}" / "metrics.json").read_text())
        for seed in (0, 1)
    }
    for seed, values in metrics.items():
        row = runs[(runs.method == "revmux") & (runs.seed == seed)].iloc[0]
        assert row.accuracy_mean == pytest.approx(values["accuracy"]["mean"])
        # Same examples every regrouping: the paired change is the difference of the accuracies.
        assert row.delta_vs_teacher == pytest.approx(values["accuracy"]["mean"] - values["teacher_accuracy"])

    summary = pd.read_csv(tables / "summary.csv")
    assert list(zip(summary.method, summary.n)) == [("teacher", 1), ("revmux", 2)]
    teacher, revmux = summary.iloc[0], summary.iloc[1]
    assert teacher.delta_vs_teacher == 0 and teacher.agreement_with_teacher == 1 and teacher.speedup == 1
    assert revmux.seeds == 2 and revmux.regroupings == 6 and revmux.examples == 40
    assert revmux.accuracy_mean == pytest.approx(np.mean([m["accuracy"]["mean"] for m in metrics.values()]))
    assert revmux.accuracy_ci_low <= revmux.accuracy_mean <= revmux.accuracy_ci_high
    profile = json.loads((tiny_results / "profile" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    assert revmux.speedup == pytest.approx(profile["speedup"]["measured"])
    assert revmux.ceiling == pytest.approx(4 / 3)
    assert revmux.throughput_samples_per_s == pytest.approx(profile["latency"]["multiplexed"]["samples_per_s"])

    page = (tables / "summary.html").read_text()
    assert 'id="summary-table"' in page and "Provenance" in page
    latex = (tables / "summary.tex").read_text()
    assert "rt-polarity" in latex and "Avg." in latex and "revmux N=2" in latex
    assert "| revmux N=2 |" in (tables / "summary.md").read_text()


def test_plots_are_drawn_for_each_backbone(tiny_results, tmp_path):
    assert main(["aggregate", "--results", str(tiny_results)]) == 0
    assert main(["plots", "--tables", str(tiny_results / "tables"), "--out", str(tmp_path)]) == 0
    names = sorted(path.name for path in tmp_path.glob("*.svg"))
    assert names == ["minilm-l6-accuracy-vs-speedup.svg", "minilm-l6-agreement.svg",
                     "minilm-l6-memory-energy-vs-n.svg", "minilm-l6-speedup-vs-n.svg"]
    assert "energy not measured here" in (tmp_path / "minilm-l6-memory-energy-vs-n.svg").read_text()


def test_a_malformed_result_file_is_named_and_skipped_only_when_asked(tiny_results, tmp_path, capsys):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(tiny_results, copy)
    broken = copy / "rt-polarity" / "minilm-l6" / "revmux-n2-p3-s1" / "metrics.json"
    data = json.loads(broken.read_text())
    data["accuracy"]["mean"] = 1.7
    broken.write_text(json.dumps(data))
    with pytest.raises(RevmuxError, match=f"{broken}: not a valid metrics result at accuracy/mean.*--keep-going"):
        collect(copy)
    assert main(["aggregate", "--results", str(copy)]) == 2
    assert str(broken) in capsys.readouterr().err
    assert main(["aggregate", "--results", str(copy), "--keep-going"]) == 0
    assert f"skipped: {broken}" in capsys.readouterr().out
    runs = pd.read_csv(copy / "tables" / "runs.csv")
    assert len(runs) == 2


def test_truncated_predictions_are_named(tiny_results, tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(tiny_results, copy)
    predictions = copy / "rt-polarity" / "minilm-l6" / "revmux-n2-p3-s0" / "predictions.csv.gz"
    predictions.write_bytes(predictions.read_bytes()[:20])
    with pytest.raises(RevmuxError, match=f"{predictions}: unreadable predictions"):
        collect(copy)
