"""The generation track's report on synthetic runs written as `revmux serve` writes them (result JSON and
per-request records): the steady-state window, the percentile sample-size rule, goodput, the best static
configuration, baton's ratios and when a difference is called a win, and the verdict sentences."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from revmux.batching import report
from revmux.batching.report import (
    BEST_STATIC, THROUGHPUT, Objectives, Window, best_static, highest_percentile, orca_sentence, percentile_columns,
    per_request, seed_comparison, steady_window, tokens_in_window, window_metrics,
)
from revmux.core import layout

REQUESTS = 48
# Each system's window requests/s per seed (the records below are built to give exactly these).
RATES = {
    "load0.5": {"baton": [1.0, 1.1, 1.2], "orca": [1.5, 1.6, 1.7], "static": [0.9, 0.9, 2.0],
                "static-t0.5-b8": [1.0, 1.05, 1.0], "hf-continuous": [2.0, 2.1, 2.2]},
    "load1.5": {"baton": [2.0, 2.1, 2.2], "orca": [1.0, 1.1, 1.2], "static": [1.0, 1.0, 1.0],
                "static-t0.5-b8": [0.9, 0.95, 3.0], "hf-continuous": [1.9, 2.15, 2.3]},
}
SEEDS = [0, 1, 2]
GAP_S = 1.0  # arrivals one second apart in every Poisson trace (each system serves the same one)


def records(rate: float, ttft_share: float = 0.25) -> pd.DataFrame:
    """48 requests arriving GAP_S apart and returned in arrival order every 1/rate s, shifted so that the 40th
    is returned at the last arrival: the window (from the 5th return to the last arrival) then holds 35
    returns in 35/rate s, `rate` requests/s exactly."""
    arrival = np.arange(REQUESTS) * GAP_S
    returned = (REQUESTS - 1) * GAP_S - 40 / rate + np.arange(1, REQUESTS + 1) / rate
    assert (returned >= arrival).all()
    first = arrival + ttft_share * (returned - arrival)
    return pd.DataFrame({
        "request": [f"r{k}" for k in range(REQUESTS)], "arrival_s": arrival, "admitted_s": arrival, "first_token_s": first,
        "finished_s": returned, "returned_s": returned, "prompt_tokens": 10, "output_tokens": 8, "generated": 8,
        "matches_reference": True, "first_divergence": None, "tokens": "1 2 3 4 5 6 7 8"})


def write_run(folder, system: str, workload: str, seed: int, rate: float):
    """A run's result JSON and its records, in the format `revmux.batching.run.serve_run` writes."""
    from revmux.batching.run import records_path

    frame = records(rate)
    counted = system != "hf-continuous"  # continuous batching's paged cache has no padded slots to count
    summary = {"requests": REQUESTS, "makespan_s": float(frame["returned_s"].max()),
               "requests_per_s": REQUESTS / frame["returned_s"].max(), "useful_tokens_per_s": 8 * REQUESTS / frame["returned_s"].max(),
               "forward_passes": 100, "executed_slots": 1000 if counted else 0, "useful_slots": 800 if counted else 0,
               "splices": 4, "splice_s": 0.1, "executed_kv_slots": 5000 if counted else None,
               "useful_kv_slots": 3000 if counted else None, "copied_bytes": 2**21 if counted else None,
               "wasted_slot_fraction": 0.2 if counted else None, "wasted_kv_fraction": 0.4 if counted else None,
               "reference_compared": REQUESTS, "reference_match_rate": 1.0}
    load = float(workload.removeprefix("load"))
    result = {
        "schema_version": 1, "kind": "revmux-serve", "system": system, "label": f"{system} (this harness)",
        "settings": {"system": system, "max_batch": 8, "timeout_s": 0.05, "concurrency": None, "device": "cpu",
                     "dtype": "float32", "warmup_requests": 2, "threads": 2},
        "backbone": {"name": "smollm2-135m", "random_init": False, "provenance": "test", "parameters": 1},
        "trace": {"file": "t.csv", "load": load, "settings": {"arrivals": "poisson", "rate": 1 / GAP_S, "seed": seed,
                                                               "requests": REQUESTS}},
        "workload": workload, "seed": seed, "summary": summary,
        "memory": {"peak_bytes": 2**30, "peak_source": "test", "peak_above_loaded_bytes": 2**26 if counted else None},
        "environment": {"host": {"cpu": "Test CPU"}, "versions": {}, "started_unix": 0.0, "pid": 1},
    }
    out = folder / f"s{seed}" / workload / f"{system}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False, compression={"method": "gzip", "mtime": 0})
    records_path(out).write_bytes(buffer.getvalue())
    out.write_text(json.dumps(result))
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    return [write_run(folder, system, workload, seed, rates[index])
            for workload, systems in RATES.items() for system, rates in systems.items() for index, seed in enumerate(SEEDS)]


@pytest.fixture(scope="module")
def tables(served):
    return report.build_tables(served, Objectives())


# --- the window, percentiles, goodput ----------------------------------------------------------------------

def _frame(arrival, returned, first=None, tokens=None) -> pd.DataFrame:
    frame = pd.DataFrame({"arrival_s": arrival, "returned_s": returned, "finished_s": returned,
                          "first_token_s": returned if first is None else first,
                          "output_tokens": 1 if tokens is None else tokens})
    return pd.concat([frame, per_request(frame)], axis=1)


def test_offline_the_window_runs_from_the_10_to_the_90_percent_return():
    frame = _frame([0.0] * 10, np.arange(1.0, 11.0))
    assert steady_window(frame) == Window(1.0, 9.0, "90% returned")
    metrics, inside = window_metrics(frame, Objectives())
    assert list(inside) == [False] + [True] * 8 + [False]  # returned within (1, 9]
    assert metrics["window_requests"] == 8 and metrics[THROUGHPUT] == pytest.approx(1.0)


def test_with_arrivals_the_window_ends_at_the_last_arrival():
    arrival = np.arange(10.0)
    frame = _frame(arrival, arrival + 0.5)
    assert steady_window(frame) == Window(0.5, 9.0, "last arrival")  # the drain after it (9.5) is out
    metrics, _ = window_metrics(frame, Objectives())
    assert metrics["window_requests"] == 8 and metrics[THROUGHPUT] == pytest.approx(8 / 8.5)


def test_a_closed_loops_first_requests_all_arriving_at_once_do_not_start_the_window():
    # three clients: the first three requests are sent at 0, each later one when one returns
    returned = np.array([2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    arrival = np.concatenate([[0.0, 0.0, 0.0], returned[:7]])
    assert steady_window(_frame(arrival, returned)) == Window(2.0, 7.0, "last arrival")


def test_every_request_returned_at_once_leaves_no_window():
    frame = _frame([0.0] * 4, [3.0] * 4)
    assert steady_window(frame) is None
    metrics, inside = window_metrics(frame, Objectives())
    assert metrics[THROUGHPUT] is None and not inside.any()


def test_tokens_count_in_the_window_spread_evenly_between_first_and_last_token():
    frame = _frame([0.0, 0.0, 0.0], [10.0, 7.0, 20.0], first=[0.0, 7.0, 12.0], tokens=[11, 1, 5])
    # 4 of the first request's 10 s lie in (5, 9]; the one-token request counts where it is; the third is later
    assert tokens_in_window(frame, Window(5.0, 9.0, "last arrival")) == pytest.approx(11 * 0.4 + 1)


def test_goodput_counts_the_window_requests_that_meet_both_objectives():
    arrival = np.zeros(6)
    first = np.array([0.5, 1.0, 3.0, 1.0, 1.5, 1.9])  # TTFT from arrival at 0
    returned = np.array([0.5, 1.0 + 9 * 0.2, 3.0 + 9 * 0.1, 1.0 + 9 * 0.3, 1.5, 1.9 + 9 * 0.24])
    tokens = [1, 10, 10, 10, 1, 10]
    frame = _frame(arrival, returned, first=first, tokens=tokens)
    window = steady_window(frame)
    assert (window.start_s, window.end_s) == pytest.approx((0.5, 4.06))  # 90% of 6, rounded up: the last return
    metrics, inside = window_metrics(frame, Objectives(ttft_s=2.0, tpot_s=0.25))
    # in the window (the first return, at 0.5, starts it): TPOT 0.2 (meets), TTFT 3 (misses), TPOT 0.3 (misses),
    # a one-token request with TTFT 1.5 (meets: it has no TPOT), TPOT 0.24 (meets)
    assert list(inside) == [False, True, True, True, True, True]
    assert metrics["goodput_requests_per_s"] == pytest.approx(3 / window.length_s)
    loose, _ = window_metrics(frame, Objectives(ttft_s=5.0, tpot_s=1.0))
    assert loose["goodput_requests_per_s"] == pytest.approx(5 / window.length_s)


@pytest.mark.parametrize(("count", "highest"), [(1, None), (9, None), (10, 90), (19, 90), (20, 95), (48, 95), (99, 95),
                                                (100, 99), (144, 99)])
def test_a_percentile_is_shown_only_with_enough_requests(count, highest):
    row = percentile_columns(pd.Series(np.arange(count, dtype=float)), "ttft")
    assert row["ttft_p50_s"] is not None
    assert highest_percentile(row, "ttft") == highest
    assert (row["ttft_p99_s"] is None) == (count < 100)


def test_the_objectives_must_be_positive_and_the_command_line_shares_their_defaults():
    from revmux.cli import serve_report
    from revmux.core.errors import RevmuxError

    assert (serve_report.DEFAULT_SLO_TTFT_S, serve_report.DEFAULT_SLO_TPOT_S) == (Objectives().ttft_s, Objectives().tpot_s)
    with pytest.raises(RevmuxError, match="--slo-ttft"):
        Objectives(ttft_s=0.0)


# --- best static, ratios, wins ------------------------------------------------------------------------------

def test_the_records_give_the_window_throughput_they_were_built_for(tables):
    table = tables["table"]
    for workload, systems in RATES.items():
        for system, rates in systems.items():
            got = table[(table.workload == workload) & (table.system == system)].sort_values("seed")[THROUGHPUT]
            assert list(got) == pytest.approx(rates)


def test_best_static_is_the_configuration_with_the_highest_median_over_seeds(tables):
    # load0.5: plain static has the single fastest run (2.0 at seed 2) but the variant the higher median;
    # hf-static never competes (transformers' generate is its own row)
    assert best_static(tables["table"]) == {("smollm2-135m", "load0.5"): "static-t0.5-b8",
                                             ("smollm2-135m", "load1.5"): "static"}
    compared = tables["compared"]
    marked = compared[compared["best_static"]][["workload", "system"]].values.tolist()
    assert marked == [["load0.5", "static-t0.5-b8"], ["load1.5", "static"]]


def test_a_static_configuration_is_static_or_a_variant_and_never_hf_static():
    assert report.is_static_configuration("static") and report.is_static_configuration("static-t0.5-b8")
    assert not report.is_static_configuration("hf-static") and not report.is_static_configuration("baton")


def test_a_ratio_is_the_median_of_the_seeds_ratios_with_their_range():
    found = seed_comparison(pd.Series([2.0, 2.1, 2.2]), pd.Series([1.0, 1.1, 1.2]))
    assert found["ratio"] == pytest.approx(2.1 / 1.1) and found["ratio_min"] == pytest.approx(2.2 / 1.2)
    assert found["ratio_max"] == pytest.approx(2.0) and found["seeds"] == 3 and found["ahead"] == "baton"


@pytest.mark.parametrize(("baton", "other", "ahead"), [
    ([1.0, 1.1, 1.2], [1.25, 1.3, 1.4], "other"),  # apart: the other wins
    ([1.3, 1.35, 1.5], [1.0, 1.1, 1.29], "baton"),  # apart: baton wins
    ([1.0, 1.3, 1.2], [1.25, 1.3, 1.4], "neither"),  # baton's best seed reaches the other's range
    ([1.0, 1.1, 1.2], [1.2, 1.3, 1.4], "neither"),  # touching ends overlap
    ([1.0, 1.1], [2.0, 2.1], None),  # two seeds: not decided however far apart
])
def test_a_win_is_called_only_where_the_seed_ranges_do_not_overlap(baton, other, ahead):
    assert seed_comparison(pd.Series(baton), pd.Series(other))["ahead"] == ahead


def test_the_ratio_table_compares_baton_with_each_other_system_per_workload(tables):
    table = tables["ratio_table"].set_index(["workload", "other"])
    assert table.loc[("load1.5", "orca"), "verdict"] == "baton wins"
    assert table.loc[("load0.5", "orca"), "verdict"] == "orca wins"
    assert table.loc[("load1.5", "hf-continuous"), "verdict"] == "no clear difference"
    best = table.loc[("load0.5", BEST_STATIC)]
    assert best["other_label"] == "best static (static-t0.5-b8)" and best["verdict"] == "no clear difference"
    assert best["ratio"] == pytest.approx(1.1 / 1.05)  # per seed 1.0/1.0, 1.1/1.05, 1.2/1.0
    assert table.loc[("load1.5", BEST_STATIC), "ratio"] == pytest.approx(2.1)  # over plain static's 1.0 at every seed


# --- verdicts ------------------------------------------------------------------------------------------------

def test_the_verdicts_say_who_is_ahead_at_each_load_and_whether_baton_beats_orca(tables):
    lines = [text for _, text in tables["verdicts"]]
    assert lines[0].startswith("Generation batching on cpu (Test CPU), float32, 2 threads, with smollm2-135m (real weights): "
                               "3 seeds (0, 1, 2), each a trace of 48 requests per workload, served by baton, ")
    assert lines[1] == (
        "At load 0.5x (Poisson arrivals at 0.5x static batching's measured offline capacity), by requests/s in the "
        "steady-state window: orca wins over baton: baton at 0.69x [0.67x, 0.71x]; no clear difference between baton "
        "and best static (static-t0.5-b8): 1.05x [1.00x, 1.20x], the seed ranges overlap; hf-continuous wins over "
        "baton: baton at 0.52x [0.50x, 0.55x].")
    assert lines[2].startswith("At load 1.5x (") and "baton wins over orca: 1.91x [1.83x, 2.00x]" in lines[2]
    assert "baton wins over best static (static): 2.10x [2.00x, 2.20x]" in lines[2]
    assert "no clear difference between baton and hf-continuous: 0.98x [0.96x, 1.05x], the seed ranges overlap" in lines[2]
    assert lines[3] == ("BATON beats an unpadded Orca (orca: selective batching, no padding) here at load 1.5x only; "
                        "orca wins at load 0.5x.")


def test_the_summary_sentence_says_plainly_where_baton_does_not_beat_orca(tables):
    against = tables["ratio_table"].copy()
    orca = against["other"] == "orca"
    against.loc[orca, "ahead"] = ["neither", "other"]
    assert orca_sentence(against) == ("BATON does not beat an unpadded Orca (orca: selective batching, no padding) in any "
                                      "workload here; orca wins at load 1.5x; no clear difference at load 0.5x.")
    against.loc[orca, "ahead"] = ["baton", "baton"]
    assert orca_sentence(against).startswith("BATON beats an unpadded Orca (orca: selective batching, no padding) here "
                                             "in every workload: at load 0.5x and at load 1.5x.")
    against.loc[orca, "ahead"] = None
    assert "not decided here: fewer than 3 seeds" in orca_sentence(against)
    assert orca_sentence(against[~orca]).startswith("No orca run")


def test_the_report_writes_its_tables_verdicts_and_every_figure(served, tmp_path):
    written = report.write_all(served, tmp_path / "tables", tmp_path / "plots")
    names = {path.name for path in written}
    assert {"batching.csv", "batching.md", "batching.html", "batching-verdicts.md"} <= names
    assert {layout.BATCHING_PLOT.format(backbone="smollm2-135m", figure=name) for name in layout.BATCHING_FIGURES} <= names
    markdown = (tmp_path / "tables" / "batching.md").read_text()
    assert "static-t0.5-b8 (best static)" in markdown and "static (best static)" in markdown
    # 35 window requests per run: p95 per run; pooled over 3 seeds, 105: p99 per workload
    assert "(p95)" in markdown and "(p99)" in markdown
    assert "not counted" in markdown and "nan" not in markdown
    verdicts = (tmp_path / "tables" / "batching-verdicts.md").read_text()
    bullets = [line[2:] for line in verdicts.splitlines() if line.startswith("- ")]
    assert bullets == [text for _, text in report.build_tables(served, Objectives())["verdicts"]]
    frame = pd.read_csv(tmp_path / "tables" / "batching.csv")
    assert len(frame) == sum(len(systems) for systems in RATES.values()) * len(SEEDS)
    assert {"makespan_requests_per_s", THROUGHPUT, "goodput_requests_per_s", "window_start_s", "window_end_s",
            "wasted_kv_fraction", "copied_bytes", "peak_above_loaded_mib"} <= set(frame.columns)


def test_the_command_takes_the_objectives(served, tmp_path):
    from revmux.cli.main import main

    assert main(["serve-report", "--served", *map(str, served), "--tables", str(tmp_path), "--plots", str(tmp_path),
                 "--slo-ttft", "100", "--slo-tpot", "100"]) == 0
    frame = pd.read_csv(tmp_path / "batching.csv")
    # every window request meets objectives this loose: goodput is the window throughput
    assert frame["goodput_requests_per_s"].to_numpy() == pytest.approx(frame[THROUGHPUT].to_numpy())
    assert main(["serve-report", "--served", str(served[0]), "--tables", str(tmp_path), "--plots", str(tmp_path),
                 "--slo-tpot", "0"]) == 2
