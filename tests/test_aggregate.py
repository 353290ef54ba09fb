"""Aggregation: the statistics on hand-made cases, then a tiny real grid (the teacher and RevMUX over two
seeds, each seed with its own teacher; one timing profile) aggregated into tables and figures."""

from __future__ import annotations

import json
import os
import shutil
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from revmux.cli.main import main
from revmux.core.errors import RevmuxError
from revmux.analysis.results import collect, discover
from revmux.analysis.bootstrap import hierarchical_ci
from revmux.analysis.tables import (
    NOT_RECORDED, at_setting, choose_profile_setting, paired_delta, profile_row, profiles_table, summary_table,
)

# --- hand-made cases -------------------------------------------------------------------------------


def test_paired_delta_counts_only_examples_where_the_two_differ():
    teacher = np.array([[1, 1, 1, 0, 0, 0, 1, 1, 0, 1]], dtype=float)
    method = np.array([[1, 1, 1, 1, 1, 0, 0, 1, 0, 1]], dtype=float)  # right on 3 and 4, wrong on 6
    delta = paired_delta(method, teacher)
    assert delta.tolist() == [[0, 0, 0, 1, 1, 0, -1, 0, 0, 0]]
    assert delta.mean() == pytest.approx(0.1)
    low, high = hierarchical_ci([delta[0]])
    assert low <= 0.1 <= high and -0.2 <= low and high <= 0.4
    with pytest.raises(ValueError, match="same examples"):
        paired_delta(method, teacher[:, :5])


def test_summary_pools_seeds_and_regroupings_over_the_same_examples():
    def run(seed, method, rows):
        row = {"task": "t", "backbone": "b", "method": method, "n": 2 if method != "identity" else 1, "p": 1,
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
    assert row["accuracy_seed_sd"] == pytest.approx(np.std([0.375, 0.625], ddof=1))  # per-seed means
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
    for seed in (0, 1):  # each seed replicates the pipeline: its own teacher first
        assert main(["--threads", "2", "teacher", *DATA, *common, "--backbone", "minilm-l6", "--mode", "head",
                     "--epochs", "1", "--seed", str(seed)]) == 0
    for method, n, seed in (("teacher", 1, 0), ("teacher", 1, 1), ("revmux", 2, 0), ("revmux", 2, 1)):
        for verb in ("train", "evaluate"):
            arguments = [verb, *DATA, *common, *RUN, "--method", method, "--n", str(n), "--seed", str(seed)]
            assert main(["--threads", "2", *arguments]) == 0
    profile = results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json"
    assert main(["speed", "--backbone", "minilm-l6", "--method", "revmux", "--n", "2", "-p", "3", "--batch-size", "8",
                 "--length", "16", "--warmup-runs", "1", "--min-iterations", "3", "--min-duration", "0",
                 "--memory-runs", "1", "--no-progress", "--resources", str(resources), "--out", str(profile)]) == 0
    return results


def test_aggregate_gives_one_row_per_run_and_the_expected_summary(tiny_results):
    assert main(["aggregate", "--results", str(tiny_results)]) == 0
    tables = tiny_results / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    assert list(zip(runs.method, runs.n, runs.seed)) == [("identity", 1, 0), ("identity", 1, 1), ("revmux", 2, 0),
                                                         ("revmux", 2, 1)]
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
    assert list(zip(summary.method, summary.n)) == [("identity", 1), ("revmux", 2)]
    teacher, revmux = summary.iloc[0], summary.iloc[1]
    assert teacher.delta_vs_teacher == 0 and teacher.agreement_with_teacher == 1 and teacher.speedup == 1
    assert revmux.seeds == 2 and revmux.regroupings == 6 and revmux.examples == 40
    assert revmux.accuracy_mean == pytest.approx(np.mean([m["accuracy"]["mean"] for m in metrics.values()]))
    assert revmux.accuracy_ci_low <= revmux.accuracy_mean <= revmux.accuracy_ci_high
    profile = json.loads((tiny_results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    assert revmux.speedup == pytest.approx(profile["speedup"]["measured"])
    assert revmux.ceiling == pytest.approx(profile["flops_per_sample"]["ratio"])  # mux and demux counted
    assert revmux.cost_free_ceiling == pytest.approx(profile["speedup"]["ceiling"])
    assert (revmux.timed_device, revmux.timed_dtype, revmux.timed_threads) == ("cpu", "float32", profile["settings"]["threads"])
    path = profile["memory"]["paths"]["multiplexed"]
    for column, key in (("weights_bytes", "weights_bytes"), ("working_set_bytes", "working_set_bytes")):
        if key in path:  # profiles written before the key existed show '–' with the reason in the note
            assert revmux[column] == path[key] or (pd.isna(revmux[column]) and path[key] is None)
        else:
            assert pd.isna(revmux[column]) and NOT_RECORDED in revmux.memory_note
    rounds = profile["speedup"]["per_round"]["values"]  # a resample's ratio of means lies between its rounds' ratios
    assert min(rounds) <= revmux.speedup_ci_low <= revmux.speedup_ci_high <= max(rounds)
    assert revmux.throughput_samples_per_s == pytest.approx(profile["latency"]["multiplexed"]["samples_per_s"])

    page = (tables / "summary.html").read_text()
    assert 'id="summary-table"' in page and "Provenance" in page
    latex = (tables / "summary.tex").read_text()
    assert "rt-polarity" in latex and "Avg." in latex and "revmux N=2" in latex
    markdown = (tables / "summary.md").read_text()
    assert re.search(r"\| revmux N=2 +\|", markdown)
    assert "timed on" in markdown and "cpu float32" in markdown and "on cpu, float32," in markdown
    for text in (markdown, page, latex):
        assert "hierarchical percentile bootstrap" in text  # what the bootstrap resamples is said with the numbers
        # and that the interval is widened to Student's t over seeds, where the numbers come from it
        assert "the wider of two" in text and "Student" in text and "t interval over the seeds" in text
    assert markdown.index("## Summary") < markdown.index("## Verdicts")
    assert (tables / "verdicts.md").read_text().startswith("# Verdicts")
    assert not (tables / "equal-speedup.csv").exists()


# --- never pooled across hardware ------------------------------------------------------------------


def test_profiles_of_different_devices_or_dtypes_are_never_averaged(tiny_results):
    profile = json.loads((tiny_results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    on_gpu = json.loads(json.dumps(profile))
    on_gpu["settings"].update(device="cuda", dtype="bfloat16")
    on_gpu["speedup"]["measured"] = 9.0
    on_gpu["latency"]["teacher"]["samples_per_s"] = 1e6
    profiles = profiles_table([profile, on_gpu])
    with pytest.raises(ValueError, match="2 different device/dtype/thread settings.*--speed-device"):
        choose_profile_setting(profiles)
    setting = choose_profile_setting(profiles, device="cpu")
    chosen = at_setting(profiles, setting)
    assert list(chosen.device) == ["cpu"]
    row = {"task": "t", "backbone": "minilm-l6", "method": "identity", "n": 1, "p": 3, "seed": 0,
           "random_init": False, "backbone_provenance": "x"}
    ones = np.ones((1, 4))
    summary = summary_table([(row, ones, ones, ones)], chosen, resamples=10)
    assert summary.iloc[0]["teacher_samples_per_s"] == pytest.approx(profile["latency"]["teacher"]["samples_per_s"])
    with pytest.raises(ValueError, match="one setting"):
        summary_table([(row, ones, ones, ones)], profiles, resamples=10)


def test_a_profile_without_per_path_peaks_shows_no_memory_rather_than_a_shared_high_water_mark(tiny_results):
    profile = json.loads((tiny_results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    for memory in profile["memory"]["paths"].values():
        del memory["peak_bytes"], memory["peak_source"]
    row = profile_row(profile)
    assert row["multiplexed_peak_memory_bytes"] is None and "rerun" in row["multiplexed_peak_memory_source"]


def test_a_profile_row_says_which_cpu_instructions_its_kernels_had(tiny_results):
    import torch

    profile = json.loads((tiny_results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    kernels = profile_row(profile)["cpu_kernels"]
    assert kernels.startswith(f"{torch.backends.cpu.get_cpu_capability()}; int8 dot-product instructions: ")
    host = profile["environment"]["host"]
    del host["cpu_capability"], host["int8_instructions"]  # a profile written before they were recorded
    assert profile_row(profile)["cpu_kernels"] is None


def test_plots_are_drawn_for_each_backbone(tiny_results, tmp_path):
    assert main(["aggregate", "--results", str(tiny_results)]) == 0
    assert main(["plots", "--tables", str(tiny_results / "tables"), "--out", str(tmp_path)]) == 0
    names = sorted(path.name for path in tmp_path.glob("*.svg"))
    assert names == ["minilm-l6-accuracy-vs-speedup.svg", "minilm-l6-agreement.svg",
                     "minilm-l6-memory-energy-vs-n.svg", "minilm-l6-speedup-vs-n.svg", "minilm-l6-training-curves.svg"]
    assert "revmux N=2" in (tmp_path / "minilm-l6-training-curves.svg").read_text()  # the histories beside the tables
    assert "energy not measured here" in (tmp_path / "minilm-l6-memory-energy-vs-n.svg").read_text()


def test_figures_mark_invalid_timings_hollow(tiny_results):
    from revmux.analysis import plots

    profile = json.loads((tiny_results / "speed" / "minilm-l6" / "revmux-n2-p3-b8-len16.json").read_text())
    # The measured file's own verdict depends on how quiet the machine was: fix it, this tests the drawing.
    profile["validity"] = {"valid": True, "reasons": [], "max_cv": 0.1}
    invalid = json.loads(json.dumps(profile))
    invalid["settings"]["n"] = 4
    invalid["validity"] = {"valid": False, "reasons": ["machine not quiet"], "max_cv": 0.1}
    profiles = profiles_table([profile, invalid])
    for figure in (plots.speedup_vs_n(profiles, "minilm-l6"), plots.memory_energy_vs_n(profiles, "minilm-l6")):
        axes = figure.axes[0]
        labels = axes.get_legend_handles_labels()[1]
        assert any("(timing invalid)" in label for label in labels), labels
        hollow = [line for line in axes.get_lines() if line.get_marker() == "o" and line.get_markerfacecolor() == "none"]
        assert [line.get_xdata()[0] for line in hollow] == [4]


def test_the_workflow_aggregates_only_the_current_configurations_runs(tiny_results, tmp_path):
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from workflow_run import copy_project, snakemake

    project = copy_project(tmp_path / "project")
    shutil.copytree(tiny_results, project / "results")
    grid = ['tasks=[rt-polarity]', 'backbones={"minilm-l6": {"prefill_layers": [3]}}', "compose_sizes=[2]",
            'speed={"batch_sizes": [8], "lengths": [16]}', 'caching={"enabled": false}']
    first = ["methods=[teacher,revmux]", "seeds=[0]"]  # teacher and revmux seed 0
    second = ["methods=[revmux]", "seeds=[1]"]  # only revmux seed 1, in the same results folder
    for config in (first, second):
        # Only the aggregate rule may run: the result files stand for finished runs of each configuration.
        result = snakemake("results/tables/summary.csv", "--cores", "1", "--allowed-rules", "aggregate",
                           "--forcerun", "aggregate", "--config", *grid, *config, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        runs = pd.read_csv(project / "results" / "tables" / "runs.csv")
        expected = [("identity", 0), ("revmux", 0)] if config is first else [("revmux", 1)]
        assert list(zip(runs.method, runs.seed)) == expected
    provenance = json.loads((project / "results" / "tables" / "provenance.json").read_text())
    assert [Path(f).parent.name for f in provenance["aggregated_files"] if f.endswith("metrics.json")] == ["revmux-n2-p3-s1"]


MADE_UP_REFERENCES = Path(__file__).parent / "fixtures" / "references" / "made-up-for-tests.csv"


def test_a_reference_file_sets_published_values_beside_ours_in_summary_md_and_the_html(tiny_results, tmp_path):
    out = tmp_path / "tables"
    assert main(["aggregate", "--results", str(tiny_results), "--out", str(out), "--resamples", "200",
                 "--reference", str(MADE_UP_REFERENCES)]) == 0
    summary = pd.read_csv(out / "summary.csv")
    teacher = summary[summary.method == "identity"].iloc[0]
    # The teacher's value was given for minilm-l6 itself, RevMUX's for BERT-base (the same family); the SST-2 row
    # matches no task of this grid.
    published = pd.read_csv(out / "published.csv")
    assert list(zip(published.method, published.published_backbone)) == [("identity", "minilm-l6"),
                                                                          ("revmux", "bert-base-uncased")]
    markdown, page, latex = ((out / name).read_text() for name in ("summary.md", "summary.html", "summary.tex"))
    expected = f"published 77.0, Δ {teacher.accuracy_mean * 100 - 77.0:+.1f}"
    for text in (markdown, page):
        assert expected in text and "published 99.5 (bert-base-uncased)" in text
        assert "made-up-for-tests.csv" in text  # the note names the file the values came from
    assert r"published 99.5 (bert-base-uncased), $\Delta$" in latex
    verdicts = (out / "verdicts.md").read_text()
    assert "99.5% published for bert-base-uncased (made up for the tests (not a published value))" in verdicts
    assert main(["aggregate", "--results", str(tiny_results), "--out", str(tmp_path / "plain"), "--resamples", "200"]) == 0
    assert "published" not in (tmp_path / "plain" / "summary.md").read_text()


def test_a_bad_reference_file_stops_aggregate_before_reading_any_result(tmp_path, capsys):
    bad = tmp_path / "published.csv"
    bad.write_text("task,backbone,method,n,value,source\nsst-2,minilm-l6,revmux,2,180,paper\n")
    assert main(["aggregate", "--results", str(tmp_path / "nothing-here"), "--reference", str(bad)]) == 2
    assert f"reference file {bad}, line 2: value 180 is outside [0, 100]" in capsys.readouterr().err


def test_the_workflow_passes_its_reference_values_to_aggregate(tiny_results, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from workflow_run import copy_project, snakemake

    project = copy_project(tmp_path / "project")
    shutil.copytree(tiny_results, project / "results")
    shutil.copy(MADE_UP_REFERENCES, project / "published.csv")
    result = snakemake("results/tables/summary.csv", "--cores", "1", "--allowed-rules", "aggregate", "--forcerun",
                       "aggregate", "--config", "tasks=[rt-polarity]", 'backbones={"minilm-l6": {"prefill_layers": [3]}}',
                       "compose_sizes=[2]", "methods=[teacher,revmux]", "seeds=[0,1]", 'caching={"enabled": false}',
                       'speed={"batch_sizes": [8], "lengths": [16]}', "reference_values=published.csv", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published 99.5 (bert-base-uncased)" in (project / "results" / "tables" / "summary.md").read_text()


def test_a_malformed_result_file_is_named_and_skipped_only_when_asked(tiny_results, tmp_path, capsys):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(tiny_results, copy)
    broken = copy / "rt-polarity" / "minilm-l6" / "revmux-n2-p3-s1" / "metrics.json"
    data = json.loads(broken.read_text())
    data["accuracy"]["mean"] = 1.7
    broken.write_text(json.dumps(data))
    with pytest.raises(RevmuxError, match=f"{broken}: not a valid metrics result at accuracy/mean.*--keep-going"):
        collect(*discover(copy))
    assert main(["aggregate", "--results", str(copy)]) == 2
    assert str(broken) in capsys.readouterr().err
    assert main(["aggregate", "--results", str(copy), "--keep-going"]) == 0
    assert f"skipped: {broken}" in capsys.readouterr().out
    runs = pd.read_csv(copy / "tables" / "runs.csv")
    assert len(runs) == 3


def test_truncated_predictions_are_named(tiny_results, tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(tiny_results, copy)
    predictions = copy / "rt-polarity" / "minilm-l6" / "revmux-n2-p3-s0" / "predictions.csv.gz"
    predictions.write_bytes(predictions.read_bytes()[:20])
    with pytest.raises(RevmuxError, match=f"{predictions}: unreadable predictions"):
        collect(*discover(copy))


@pytest.mark.slow
def test_a_non_editable_install_aggregates_outside_the_checkout(tiny_results, tmp_path):
    # A wheel installed into its own folder, run from a folder that is not the checkout: the schemas must come
    # from inside the package, not from the repository beside it.
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "revmux"):
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("revmux-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tiny_results, elsewhere / "results")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    located = subprocess.run([sys.executable, "-c", "import revmux; print(revmux.__file__)"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, check=True)
    assert located.stdout.startswith(str(tmp_path / "site"))
    result = subprocess.run([sys.executable, "-m", "revmux", "aggregate", "--results", "results", "--resamples", "50"],
                            cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (elsewhere / "results" / "tables" / "summary.html").is_file()


def test_a_run_row_reads_the_selected_epoch_old_and_new_the_share_of_its_commonest_answer_and_its_loss_weight():
    import pandas as pd

    from revmux.analysis.tables import run_row

    predictions = pd.DataFrame({"regrouping": [0] * 4, "example": range(4), "position": range(4), "label": [0, 1, 0, 1],
                                "prediction": [1, 1, 1, 0], "confidence": [0.9] * 4, "teacher_prediction": [0, 1, 0, 1]})
    metrics = {"config": {"data": {"task": "sst-2"}, "backbone": "minilm-l6", "method": "revmux", "n": 2,
                          "prefill_layers": 3, "seed": 0, "infonce_weight": 0.25},
               "accuracy": {"mean": 0.5, "sd": 0.0, "per_regrouping": [0.5], "examples": 4,
                            "selection": "epoch 0, best accuracy on the validation split carved from training data"},
               "teacher_accuracy": 1.0, "trainable_parameters": 10, "data_source": "local", "random_init": False,
               "backbone_provenance": "wheel"}
    row = run_row(metrics, predictions)
    assert row["selected_epoch"] == 0 and row["top_class_share"] == 0.75
    assert row["infonce_weight"] == 0.25  # which loss weight the multiplexer trained with (runs.csv)
    metrics["accuracy"]["selected_epoch"] = 3
    assert run_row(metrics, predictions)["selected_epoch"] == 3
    metrics["trainable_parameters"] = 0  # the teacher: it trains nothing of its own here
    assert run_row(metrics, predictions)["selected_epoch"] is None
    assert run_row(metrics, predictions)["infonce_weight"] is None  # no loss of its own: no weight to report
