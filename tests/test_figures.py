"""The figures people look at rather than read: accuracy against speed-up with both axes' intervals, training
curves from the runs' history.json, each batching workload's TTFT and TPOT distributions from the runs'
per-request records, and every enabled track's tables and figures on the one HTML report."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from revmux.core import layout

from workflow_run import copy_project, snakemake


# --- accuracy against speed-up ---------------------------------------------------------------------------

def _option(method, n, accuracy, speedup, ceiling, front, flag=None, depth=None) -> dict:
    spread = 0 if method == "identity" else 0.03  # the teacher's speed-up is 1 by definition
    return {"task": "rt-polarity", "backbone": "minilm-l6", "method": method, "n": n, "p": 3, "depth": depth,
            "accuracy_mean": accuracy, "accuracy_ci_low": accuracy - 0.02, "accuracy_ci_high": accuracy + 0.02,
            "teacher_accuracy": 0.8, "speedup": speedup, "speedup_ci_low": speedup - spread,
            "speedup_ci_high": speedup + spread, "ceiling": ceiling, "ceiling_flag": flag, "profile_valid": True,
            "pareto_front": front}


def _accuracy_figure(tmp_path, rows: list[dict]):
    from revmux.analysis.plots import accuracy_vs_speedup

    path = tmp_path / "summary.csv"  # through the file, as `revmux plots` reads it
    pd.DataFrame(rows).to_csv(path, index=False)
    return accuracy_vs_speedup(pd.read_csv(path), "minilm-l6").axes[0]


def test_accuracy_against_speedup_draws_both_intervals_the_front_and_the_ceiling_flags(tmp_path):
    from revmux.analysis.plots import CEILING_FLAG, NO_FRONT, OWN_CEILING, PARETO_FRONT

    axes = _accuracy_figure(tmp_path, [
        _option("identity", 1, 0.80, 1.0, 1.0, False), _option("revmux", 2, 0.72, 1.30, 1.333, False),
        _option("truncate", 2, 0.84, 1.45, 1.5, True, depth=5),
        _option("identity+int8", 1, 0.80, 1.38, None, False),
        _option("hadamard", 4, 0.62, 1.75, 1.6, True, flag="suspect"),
        _option("ora", 4, 0.70, 1.62, 1.6, False, flag="above ceiling"),
    ])
    bars = [c for c in axes.containers if c.has_xerr and c.has_yerr]
    assert len(bars) == 5  # every option but the teacher, whose speed-up is exactly 1
    rings = [line for line in axes.get_lines() if line.get_gid() == PARETO_FRONT]
    assert len(rings) == 1 and sorted(rings[0].get_xdata()) == [1.45, 1.75]
    flags = sorted(text.get_text() for text in axes.texts if text.get_gid() == CEILING_FLAG)
    assert flags == ["SUSPECT: above ceiling", "above ceiling"]
    assert NO_FRONT not in [text.get_text() for text in axes.texts]
    ticks = [line for line in axes.get_lines() if line.get_gid() == OWN_CEILING]
    assert [line.get_xdata()[0] for line in ticks] == [1.5]  # a truncation's own ceiling; none for int8


def test_with_one_seed_no_pareto_front_is_drawn(tmp_path):
    from revmux.analysis.plots import NO_FRONT, PARETO_FRONT

    axes = _accuracy_figure(tmp_path, [_option("identity", 1, 0.80, 1.0, 1.0, None),
                                       _option("revmux", 2, 0.72, 1.30, 1.333, None)])
    assert not any(line.get_gid() == PARETO_FRONT for line in axes.get_lines())
    assert NO_FRONT in [text.get_text() for text in axes.texts]


# --- training curves ------------------------------------------------------------------------------------

def _history(method: str, n: int, seed: int, accuracies: list[float], selected: int) -> dict:
    """A history.json as `revmux train` writes it: the run's config, the epoch kept and one record per epoch
    (epoch 0, before training, has no loss)."""
    records = [{"epoch": 0, "validation_accuracy": accuracies[0], "eval_accuracy": accuracies[0]}]
    records += [{"epoch": epoch, "seconds": 1.0, "train_loss": 1.0 / epoch, "train_ce": 0.5 / epoch,
                 "validation_accuracy": accuracy, "eval_accuracy": accuracy}
                for epoch, accuracy in enumerate(accuracies[1:], start=1)]
    config = {"data": {"task": "rt-polarity"}, "backbone": "minilm-l6", "method": method, "n": n,
              "prefill_layers": 3, "seed": seed}
    return {"config": config, "selected_epoch": selected, "dev_selected_epoch": selected,
            "validation_accuracy": accuracies[selected], "history": records}


def _curves(tmp_path, *histories: dict):
    from revmux.analysis.plots import history_table, training_curves
    from revmux.cli.plots import read_histories

    paths = []
    for number, history in enumerate(histories):
        paths.append(tmp_path / f"run{number}" / layout.HISTORY)
        paths[-1].parent.mkdir()
        paths[-1].write_text(json.dumps(history))
    return training_curves(history_table(read_histories(paths)), "minilm-l6")


def _stars(axes) -> list[tuple[float, float]]:
    """The (epoch, accuracy %) of every star on the axes."""
    return sorted((float(x), round(float(y), 6)) for line in axes.get_lines() if line.get_marker() == "*"
                  for x, y in zip(line.get_xdata(), line.get_ydata()))


def test_training_curves_draw_one_line_per_run_and_mark_the_epoch_each_kept(tmp_path):
    from revmux.analysis.plots import SELECTED_EPOCH
    from revmux.core.atomic import atomic_write_svg

    figure = _curves(tmp_path, _history("revmux", 2, 0, [0.5, 0.7, 0.8, 0.75], selected=2),
                     _history("adapter", 4, 0, [0.5, 0.6, 0.62, 0.66], selected=3))
    accuracy, loss = figure.axes
    lines = {line.get_label(): line for line in accuracy.get_lines() if not line.get_label().startswith("_")}
    assert sorted(lines) == ["adapter N=4", "revmux N=2"]
    assert list(lines["revmux N=2"].get_ydata()) == pytest.approx([50, 70, 80, 75])
    assert lines["revmux N=2"].get_color() != lines["adapter N=4"].get_color()
    # the loss panel: the same runs, from epoch 1 (epoch 0 trained nothing)
    losses = {line.get_label(): list(line.get_xdata()) for line in loss.get_lines()}
    assert losses == {"revmux N=2": [1, 2, 3], "adapter N=4": [1, 2, 3]}
    assert _stars(accuracy) == [(2, 80), (3, 66)]
    assert "epoch kept (best validation accuracy), one star per seed" in [text.get_text() for text in figure.legends[0].texts]
    svg = tmp_path / "curves.svg"
    atomic_write_svg(svg, figure)
    assert svg.read_text().count(f'id="{SELECTED_EPOCH}') == 2


def test_several_seeds_give_their_mean_with_the_range_shaded_and_a_star_each(tmp_path):
    figure = _curves(tmp_path, _history("revmux", 2, 0, [0.5, 0.6, 0.8], selected=2),
                     _history("revmux", 2, 1, [0.5, 0.8, 0.7], selected=1),
                     _history("identity", 1, 0, [0.9], selected=0))
    accuracy = figure.axes[0]
    lines = {line.get_label(): line for line in accuracy.get_lines() if not line.get_label().startswith("_")}
    assert list(lines["revmux N=2"].get_ydata()) == pytest.approx([50, 70, 75])
    # the teacher trains nothing: a horizontal reference at its accuracy, no curve and no star
    assert list(lines["teacher (no epoch trained)"].get_ydata()) == pytest.approx([90, 90])
    assert len(accuracy.collections) == 1  # the two seeds' range
    assert _stars(accuracy) == [(1, 80), (2, 80)]
    assert "mean over seeds" in figure.get_suptitle()


def test_a_history_that_is_not_one_is_named(tmp_path):
    from revmux.cli.plots import read_histories
    from revmux.core.errors import RevmuxError

    path = tmp_path / layout.HISTORY
    path.write_text(json.dumps({"history": []}))
    with pytest.raises(RevmuxError, match="not a `revmux train` history \\(no config, selected_epoch\\); rerun"):
        read_histories([path])


# --- TTFT and TPOT distributions ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two systems on two workloads (offline; Poisson at 1.5 x capacity), served on stories260K by the
    serving code itself: the run JSONs and per-request records exactly as the workflow's jobs write them."""
    from revmux.batching.config import ServeSettings
    from revmux.batching.run import serve_systems

    folder = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(0)
    prompts = [" ".join(map(str, rng.integers(1, 500, int(length)))) for length in rng.integers(2, 12, 6)]
    outputs = [1, 3, 5, 2, 4, 6]  # one request of a single token: it has no time per output token
    sidecars = {"offline": {"settings": {"arrivals": "offline", "seed": 0}},
                "load1.5": {"load": 1.5, "settings": {"arrivals": "poisson", "rate": 50.0, "seed": 0}}}
    runs = []
    for workload, sidecar in sidecars.items():
        trace = folder / f"s0-{workload}.csv"
        arrivals = [0.0] * 6 if workload == "offline" else list(np.cumsum(rng.exponential(0.02, 6)))
        pd.DataFrame({"request": [f"r{k}" for k in range(6)], "arrival_s": arrivals, "prompt_ids": prompts,
                      "output_tokens": outputs}).to_csv(trace, index=False)
        trace.with_suffix(".json").write_text(json.dumps(sidecar))
        for system in ("static", "baton"):
            out = folder / "runs" / workload / f"{system}.json"
            serve_systems(trace, "stories260k", [ServeSettings(system=system, max_batch=4, warmup_requests=0)], None,
                          out, None)
            runs.append(out)
    return runs


def test_each_workload_shows_each_systems_ttft_and_tpot_distribution(served):
    from revmux.batching.report import SYSTEM_COLORS, latency_distributions, request_rows
    from revmux.batching.run import records_path

    requests = pd.concat([request_rows(path) for path in served], ignore_index=True)
    figure = latency_distributions(requests, "stories260k")
    panels = np.array(figure.axes).reshape(-1, 2)
    assert len(panels) == 2  # one row per workload, busiest last: the Poisson load, then offline
    titles = [row[0].get_title(loc="left") for row in panels]
    assert titles[0].startswith("load1.5: Poisson arrivals at 1.5 x") and titles[1].startswith("offline: every request")
    assert "time to first token" in panels[0][0].get_xlabel() and "(s" in panels[0][0].get_xlabel()
    assert "time per output token" in panels[0][1].get_xlabel()
    for row, workload in zip(panels, ("load1.5", "offline")):
        for axes, column in zip(row, ("ttft", "tpot")):
            curves = {line.get_label(): line for line in axes.get_lines() if not line.get_label().startswith("_")}
            assert sorted(curves) == ["baton", "static"]
            for system, line in curves.items():
                assert line.get_color() == SYSTEM_COLORS[system]  # the colour it has in every batching figure
                frame = pd.read_csv(records_path(next(p for p in served if p.parent.name == workload and p.stem == system)))
                # static returns a request with its batch: nothing streams, so its first token is the return
                ttft = frame["returned_s" if system == "static" else "first_token_s"] - frame["arrival_s"]
                several = frame[frame["output_tokens"] > 1]
                tpot = (several["finished_s"] - several["first_token_s"]) / (several["output_tokens"] - 1)
                expected = np.sort((ttft if column == "ttft" else tpot).to_numpy())
                assert line.get_xdata() == pytest.approx(expected)  # every request, none invented or lost
                assert line.get_ydata()[-1] == pytest.approx(1.0)
    assert [text.get_text() for text in figure.legends[0].texts] == ["baton", "static"]


def test_serve_report_writes_the_distributions_beside_its_other_figures(served, tmp_path):
    from revmux.batching.report import write_all

    written = write_all(served, tmp_path / "tables", tmp_path / "plots")
    figures = sorted(path.name for path in written if path.suffix == ".svg")
    assert figures == sorted(layout.BATCHING_PLOT.format(backbone="stories260k", figure=name) for name in layout.BATCHING_FIGURES)
    assert "time to first token" in (tmp_path / "plots" / "batching-stories260k-ttft-tpot.svg").read_text()


# --- one report for every track -------------------------------------------------------------------------

BATCHING_ON = ["--config", "batching={enabled: true}"]


def test_the_plots_job_reads_this_grids_training_histories():
    result = snakemake("-n", "--forceall", "-p")
    assert result.returncode == 0, result.stdout + result.stderr
    command = next(line for line in result.stdout.splitlines() if "-m revmux plots" in line)
    histories = command.split("--history ")[1].split(" --out")[0].split()
    # the teacher and every multiplexer of the default grid; no truncation, no int8 form (none is trained by `train`)
    assert sorted(path.split("/")[3] for path in histories) == sorted(
        ["identity-n1-p3-s0"] + [f"{method}-n{n}-p3-s0" for method in ("adapter", "ora", "revmux", "hadamard") for n in (2, 4)])
    assert all(path.endswith("/" + layout.HISTORY) for path in histories)


def test_a_run_with_batching_puts_every_tracks_tables_and_figures_in_one_report(tmp_path):
    project = copy_project(tmp_path / "project")
    summary = snakemake("--summary", *BATCHING_ON, cwd=project)
    assert summary.returncode == 0, summary.stdout + summary.stderr
    # The run's results as placeholders: the report gathers what the run's targets need, not how it was made.
    # Only under results/: resources/ is the checkout's own asset cache, linked in.
    for line in summary.stdout.splitlines():
        if not line.startswith(f"{layout.RESULTS}/"):
            continue
        path = project / line.split("\t")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>" if path.suffix == ".svg" else "x")
    built = snakemake("--report", "report.zip", *BATCHING_ON, cwd=project)
    assert built.returncode == 0, built.stdout + built.stderr
    with zipfile.ZipFile(project / "report.zip") as archive:
        shown = {name.rsplit("/", 1)[-1] for name in archive.namelist() if "/data/raw/" in name}
        page = archive.read("report/report.html").decode()
    assert {"summary.html", "minilm-l6-training-curves.svg", "batching.html", "caching-synthetic.md"} <= shown
    assert {layout.BATCHING_PLOT.format(backbone="smollm2-135m", figure=name) for name in layout.BATCHING_FIGURES} <= shown
    for category in (layout.SUMMARY_CATEGORY, layout.FIGURES["training-curves"], layout.BATCHING_CATEGORY,
                     layout.CACHING_CATEGORY):
        assert category in page, category
    # the page's description says what each enabled track ran
    assert "Generation batching: what was run" in page and "Caching and model selection: what was run" in page
