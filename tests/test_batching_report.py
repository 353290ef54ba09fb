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
    BEST_STATIC, REQUESTS_RATE, THROUGHPUT, Objectives, Window, best_static, highest_percentile, orca_sentence,
    percentile_columns, per_request, seed_comparison, steady_window, tokens_in_window, window_metrics,
)
from revmux.core import layout

REQUESTS = 48
SEEDS = [0, 1, 2]
# Per Poisson workload, the seconds between arrivals (every system serves the same trace), and each system's run
# per seed as (requests returned per second, seconds from the first arrival to the first return): a system that
# returns at the arrival rate keeps up, with that latency; one returning slower falls behind.
GAP_S = {"load0.5": 1.0, "load1.5": 0.5}
RUNS = {
    "load0.5": {"baton": [(1, 2), (1, 3), (1, 3)], "orca": [(1, 4), (1, 4), (1, 5)],
                "static": [(1, 5), (1, 6), (1, 5)], "static-t0.5-b8": [(1, 4), (1, 4), (1, 4)],
                "hf-continuous": [(1, 3), (1, 2), (1, 3)], "padded-iteration": [(0.5, 7)] * 3},
    "load1.5": {"baton": [(1.5, 3.5), (1.6, 3.5), (1.7, 3.5)], "orca": [(1.0, 3.5), (1.1, 3.5), (1.2, 3.5)],
                "static": [(1.0, 3.5)] * 3, "static-t0.5-b8": [(0.95, 3.5), (0.9, 3.5), (1.9, 3.5)],
                "hf-continuous": [(1.45, 3.5), (1.65, 3.5), (1.75, 3.5)],
                "padded-iteration": [(1.4, 3.5), (1.45, 3.5), (1.45, 3.5)]},
}
TOKENS = 8  # per request, all made at its return: window tokens/s is TOKENS x window requests/s exactly
OBJECTIVES = Objectives(ttft_s=3.5, tpot_s=0.25)  # met by a latency of 3 s, missed by 4 s
PASSES = {"baton": (100, 20), "orca": (100, 50)}  # forward passes, of which prefill passes; others (100, 10)


def records(gap: float, rate: float, first_return: float, first_token_early_s: float = 0.0) -> pd.DataFrame:
    """48 requests arriving `gap` s apart, returned in arrival order every 1/rate s from `first_return`. The
    window (from the 5th return to the last arrival) then holds the returns k = 5 .. (47 gap - first_return) rate,
    `rate` requests/s exactly where that bound is whole; at rate 1/gap each request waits `first_return` s."""
    arrival = np.arange(REQUESTS) * gap
    returned = first_return + np.arange(REQUESTS) / rate
    assert (returned >= arrival).all()
    return pd.DataFrame({
        "request": [f"r{k}" for k in range(REQUESTS)], "arrival_s": arrival, "admitted_s": arrival,
        "first_token_s": returned - first_token_early_s, "finished_s": returned, "returned_s": returned,
        "prompt_tokens": 10, "output_tokens": TOKENS, "generated": TOKENS, "matches_reference": True,
        "first_divergence": None, "tokens": " ".join(map(str, range(TOKENS)))})


def write_run(folder, system: str, workload: str, seed: int, run: tuple[float, float], frame: pd.DataFrame | None = None,
              streams: bool | None = None):
    """A run's result JSON and its records, in the format `revmux.batching.run.serve_run` writes (`streams`
    None: an older result without the flag)."""
    from revmux.batching.run import records_path

    frame = records(GAP_S[workload], *run) if frame is None else frame
    counted = system != "hf-continuous"  # continuous batching's paged cache has no padded slots to count
    forward, prefill = PASSES.get(system, (100, 10)) if counted else (0, 0)
    summary = {"requests": REQUESTS, "makespan_s": float(frame["returned_s"].max()),
               "requests_per_s": REQUESTS / frame["returned_s"].max(),
               "useful_tokens_per_s": TOKENS * REQUESTS / frame["returned_s"].max(),
               "forward_passes": forward, "prefill_passes": prefill, "executed_slots": 1000 if counted else 0,
               "useful_slots": 800 if counted else 0,
               "splices": 4, "splice_s": 0.1, "executed_kv_slots": 5000 if counted else None,
               "useful_kv_slots": 3000 if counted else None, "copied_bytes": 2**21 if counted else None,
               "wasted_slot_fraction": 0.2 if counted else None, "wasted_kv_fraction": 0.4 if counted else None,
               "reference_compared": REQUESTS, "reference_match_rate": 1.0}
    if streams is not None:
        summary["streams"] = streams
    load = float(workload.removeprefix("load"))
    result = {
        "schema_version": 1, "kind": "revmux-serve", "system": system, "label": f"{system} (this harness)",
        "settings": {"system": system, "max_batch": 8, "timeout_s": 0.05, "concurrency": None, "device": "cpu",
                     "dtype": "float32", "warmup_requests": 2, "threads": 2},
        "backbone": {"name": "smollm2-135m", "random_init": False, "provenance": "test", "parameters": 1},
        "trace": {"file": "t.csv", "load": load, "settings": {"arrivals": "poisson", "rate": 1 / GAP_S[workload],
                                                               "seed": seed, "requests": REQUESTS}},
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
    return [write_run(folder, system, workload, seed, runs[index])
            for workload, systems in RUNS.items() for system, runs in systems.items() for index, seed in enumerate(SEEDS)]


@pytest.fixture(scope="module")
def tables(served):
    return report.build_tables(served, OBJECTIVES)


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
    assert metrics["window_requests"] == 8 and metrics[REQUESTS_RATE] == pytest.approx(1.0)


def test_with_arrivals_the_window_ends_at_the_last_arrival():
    arrival = np.arange(10.0)
    frame = _frame(arrival, arrival + 0.5)
    assert steady_window(frame) == Window(0.5, 9.0, "last arrival")  # the drain after it (9.5) is out
    metrics, _ = window_metrics(frame, Objectives())
    assert metrics["window_requests"] == 8 and metrics[REQUESTS_RATE] == pytest.approx(8 / 8.5)


def test_a_closed_loops_first_requests_all_arriving_at_once_do_not_start_the_window():
    # three clients: the first three requests are sent at 0, each later one when one returns
    returned = np.array([2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    arrival = np.concatenate([[0.0, 0.0, 0.0], returned[:7]])
    assert steady_window(_frame(arrival, returned)) == Window(2.0, 7.0, "last arrival")


def test_every_request_returned_at_once_leaves_no_window():
    frame = _frame([0.0] * 4, [3.0] * 4)
    assert steady_window(frame) is None
    metrics, inside = window_metrics(frame, Objectives())
    assert metrics[REQUESTS_RATE] is None and not inside.any()


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
    for workload, systems in RUNS.items():
        for system, runs in systems.items():
            got = table[(table.workload == workload) & (table.system == system)].sort_values("seed")
            rates = [rate for rate, _ in runs]
            assert list(got[REQUESTS_RATE]) == pytest.approx(rates)
            assert list(got[THROUGHPUT]) == pytest.approx([TOKENS * rate for rate in rates])


def test_a_system_keeps_up_where_it_returns_what_arrived_in_its_window(tables):
    compared = tables["compared"].set_index(["workload", "system"])
    assert compared.loc[("load0.5", "baton"), "keeps_up"]  # 41 returned of 41 arrived
    assert not compared.loc[("load0.5", "padded-iteration"), "keeps_up"]  # 16 of 32
    assert not compared.loc[("load1.5", "baton"), "keeps_up"]  # 2 arrive per second, 1.5 return
    assert compared.loc[("load0.5", "baton"), "offered_requests_per_s"] == pytest.approx(1.0)


def test_best_static_is_the_configuration_with_the_highest_median_tokens_per_s_over_seeds(tables):
    # load1.5: the variant has the single fastest run (seed 2) but plain static the higher median; at load0.5 both
    # keep up and tie, and the first name is taken; hf-static never competes (transformers' generate is its own row)
    assert best_static(tables["table"]) == {("smollm2-135m", "load0.5"): "static", ("smollm2-135m", "load1.5"): "static"}
    compared = tables["compared"]
    marked = compared[compared["best_static"]][["workload", "system"]].values.tolist()
    assert marked == [["load0.5", "static"], ["load1.5", "static"]]


def test_best_static_ranks_by_tokens_per_s_not_by_requests_per_s():
    # static returns its batches whole: a window catching one batch more reads higher requests/s while the
    # tokens made in it say otherwise
    table = pd.DataFrame({"backbone": "b", "workload": "load1", "system": ["static"] * 3 + ["static-t0.5-b8"] * 3,
                          "seed": SEEDS * 2, REQUESTS_RATE: [1.0, 1.0, 1.0, 1.3, 1.3, 1.3],
                          THROUGHPUT: [9.0, 9.0, 9.0, 8.0, 8.0, 8.0]})
    assert best_static(table) == {("b", "load1"): "static"}


def test_a_static_configuration_is_static_or_a_variant_and_never_hf_static():
    assert report.is_static_configuration("static") and report.is_static_configuration("static-t0.5-b8")
    assert not report.is_static_configuration("hf-static") and not report.is_static_configuration("baton")


def test_a_ratio_is_the_median_of_the_seeds_ratios_with_their_range():
    found = seed_comparison(pd.Series([2.0, 2.1, 2.2]), pd.Series([1.0, 1.1, 1.2]))
    assert found["ratio"] == pytest.approx(2.1 / 1.1) and found["ratio_min"] == pytest.approx(2.2 / 1.2)
    assert found["ratio_max"] == pytest.approx(2.0) and found["seeds"] == 3 and found["ahead"] == "baton"


@pytest.mark.parametrize(("baton", "other", "ahead"), [
    ([1.0, 1.1, 1.2], [1.25, 1.35, 1.4], "other"),  # every seed's ratio below 1/1.1, ranges apart
    ([1.45, 1.5, 1.65], [1.0, 1.1, 1.3], "baton"),  # every seed's ratio above 1.1, ranges apart
    ([1.0, 1.3, 1.2], [1.25, 1.3, 1.4], "neither"),  # baton's best seed reaches the other's range
    ([1.0, 1.1, 1.2], [1.2, 1.3, 1.4], "neither"),  # touching ends overlap
    # ranges apart but seed 0 within the margin: three interchangeable values fall apart 1 time in 10
    ([1.5, 1.6, 1.7], [1.4, 1.45, 1.45], "neither"),
    ([1.0, 1.1], [2.0, 2.1], None),  # two seeds: not decided however far apart
])
def test_a_win_needs_every_paired_ratio_beyond_the_margin_and_the_ranges_apart(baton, other, ahead):
    assert seed_comparison(pd.Series(baton), pd.Series(other))["ahead"] == ahead


def test_for_latency_lower_is_better():
    assert seed_comparison(pd.Series([2.0, 3.0, 3.0]), pd.Series([4.0, 4.0, 5.0]), lower_is_better=True)["ahead"] == "baton"
    assert seed_comparison(pd.Series([4.0, 4.0, 5.0]), pd.Series([2.0, 3.0, 3.0]), lower_is_better=True)["ahead"] == "other"


def test_where_both_keep_up_the_verdict_compares_latency_elsewhere_tokens_per_s(tables):
    table = tables["ratio_table"].set_index(["workload", "other"])
    orca = table.loc[("load0.5", "orca")]
    # both serve the 1 request/s that arrives: their throughput is equal by construction
    assert orca["ratio"] == pytest.approx(1.0) and orca["basis"] == "latency"
    assert orca["latency_ratio"] == pytest.approx(0.6) and orca["verdict"] == "baton ahead in latency"
    assert table.loc[("load0.5", "padded-iteration"), "verdict"] == "baton ahead in throughput"  # it falls behind
    assert table.loc[("load0.5", "hf-continuous"), "verdict"] == "no clear difference"
    assert table.loc[("load1.5", "orca"), "basis"] == "throughput"
    assert table.loc[("load1.5", "orca"), "verdict"] == "baton ahead in throughput"
    # the ranges of tokens/s are apart, but one seed's ratio (1.07) lies within the margin
    assert table.loc[("load1.5", "padded-iteration"), "verdict"] == "no clear difference"
    assert table.loc[("load1.5", "hf-continuous"), "verdict"] == "no clear difference"
    best = table.loc[("load1.5", BEST_STATIC)]
    assert best["other_label"] == "best static (static)" and best["ratio"] == pytest.approx(1.6)


# --- verdicts ------------------------------------------------------------------------------------------------

def test_the_verdicts_say_who_keeps_up_and_who_is_ahead_at_each_load_and_whether_baton_beats_orca(tables):
    lines = [text for _, text in tables["verdicts"]]
    assert lines[0].startswith("Generation batching on cpu (Test CPU), float32, 2 threads, with smollm2-135m (real weights): "
                               "3 seeds (0, 1, 2), each a trace of 48 requests per workload, served by baton, ")
    assert "every seed's ratio lies beyond 10% on its side" in lines[0]
    assert lines[1] == (
        "At load 0.5x (Poisson arrivals at 0.5x static batching's measured offline capacity). "
        "Against orca: both keep up with the offered 1.00 requests/s; baton's median end-to-end latency is 0.60x "
        "[0.50x, 0.75x] orca's (goodput 1.00 against 0.00 requests/s): baton ahead in latency. "
        "Against padded-iteration: padded-iteration falls behind the offered 1.00 requests/s; baton's useful tokens/s "
        "is 2.00x [2.00x, 2.00x] padded-iteration's (requests/s 2.00x): baton ahead in throughput. "
        "Against best static (static): both keep up with the offered 1.00 requests/s; baton's median end-to-end "
        "latency is 0.50x [0.40x, 0.60x] best static (static)'s (goodput 1.00 against 0.00 requests/s): baton ahead "
        "in latency. "
        "Against hf-continuous: both keep up with the offered 1.00 requests/s; baton's median end-to-end latency is "
        "1.00x [0.67x, 1.50x] hf-continuous's (goodput 1.00 against 1.00 requests/s): no clear difference.")
    assert lines[2].startswith("At load 1.5x (")
    assert ("Against orca: both fall behind the offered 2.00 requests/s; baton's useful tokens/s is 1.45x "
            "[1.42x, 1.50x] orca's (requests/s 1.45x): baton ahead in throughput.") in lines[2]
    assert "padded-iteration's (requests/s 1.10x): no clear difference." in lines[2]
    assert lines[3] == ("Against an unpadded Orca, orca (packed: selective batching, no padding), BATON is ahead in "
                        "throughput at load 1.5x; ahead in latency where both keep up at load 0.5x.")
    assert lines[4] == ("Against padded-iteration (the padded iteration-level scheduler closest to what the BATON paper "
                        "most likely compared with), BATON is ahead in throughput at load 0.5x; no clear difference at "
                        "load 1.5x.")


def test_the_summary_sentence_tells_throughput_latency_and_no_difference_apart(tables):
    against = tables["ratio_table"].copy()
    orca = against["other"] == "orca"
    against.loc[orca, "ahead"] = ["neither", "other"]
    # better at every paired seed, yet the seeds' ranges overlap: a tie by the rule, and said so
    assert orca_sentence(against).endswith("no clear difference at load 0.5x; of those, BATON is better by more than "
                                           "10% at every paired seed, with the seeds' ranges overlapping, at load 0.5x.")
    against.loc[orca, "every_seed"] = None
    assert orca_sentence(against) == ("Against an unpadded Orca, orca (packed: selective batching, no padding), BATON is "
                                      "not ahead in any workload here: behind in throughput at load 1.5x; no clear "
                                      "difference at load 0.5x.")
    against.loc[orca, "ahead"] = ["other", "baton"]
    assert orca_sentence(against).endswith("BATON is ahead in throughput at load 1.5x; behind in latency where both "
                                           "keep up at load 0.5x.")
    against.loc[orca, "ahead"] = None
    assert orca_sentence(against).endswith("not ahead in any workload here: undecided at load 0.5x and at load 1.5x "
                                           "(fewer than 3 seeds).")
    assert orca_sentence(against[~orca]).startswith("No orca run")


# --- time to first token without streaming, prefill passes -------------------------------------------------

def test_a_system_that_does_not_stream_has_its_first_token_at_the_return():
    from revmux.batching.serve import latencies, summarize

    frame = pd.DataFrame({"arrival_s": [0.0, 1.0], "first_token_s": [0.5, 1.5], "finished_s": [2.0, 3.5],
                          "returned_s": [4.0, 4.0], "output_tokens": [4, 6], "matches_reference": [None, None]})
    assert list(latencies(frame)["ttft"]) == pytest.approx([0.5, 0.5])
    assert list(latencies(frame, streams=False)["ttft"]) == pytest.approx([4.0, 3.0])
    assert list(latencies(frame, streams=False)["tpot"]) == pytest.approx([0.5, 0.4])  # the pace of generation
    counters = {"forward_passes": 4, "executed_slots": 8, "useful_slots": 8, "streams": False}
    summary = summarize(frame, counters)
    assert summary["streams"] is False and summary["ttft_p50_s"] == pytest.approx(3.5)


@pytest.mark.parametrize(("system", "streams", "ttft_is_e2e"), [
    ("static", None, True),  # an older result: static's class returns its rows with the batch
    ("static-t0.5-b8", None, True), ("baton", None, False), ("static", True, False),  # the recorded flag decides
])
def test_the_report_takes_a_non_streaming_systems_first_token_at_the_return(tmp_path, system, streams, ttft_is_e2e):
    frame = records(1.0, 1, 3, first_token_early_s=1.0)  # each request's first token 2 s after it arrives
    table = report.build_tables([write_run(tmp_path, system, "load0.5", 0, (1, 3), frame, streams)], OBJECTIVES)["table"]
    assert table.loc[0, "ttft_p50_s"] == pytest.approx(3.0 if ttft_is_e2e else 2.0)
    assert table.loc[0, "goodput_requests_per_s"] == pytest.approx(1.0)  # TTFT 3 s or 2 s both meet 3.5 s


def test_each_run_and_workload_shows_its_prefill_passes_per_decode_pass(tables):
    runs = tables["runs"].set_index(["workload", "system", "seed"])
    assert runs.loc[("load0.5", "baton", 0), "prefill passes per decode pass"] == "0.25"  # 20 of 100 passes
    assert runs.loc[("load0.5", "hf-continuous", 0), "prefill passes per decode pass"] == "not counted"
    comparison = tables["comparison"].set_index(["workload", "system"])
    assert comparison.loc[("load1.5", "orca"), "prefill passes per decode pass"] == "1.00"  # 50 of 100


def test_the_report_writes_its_tables_verdicts_and_every_figure(served, tmp_path):
    written = report.write_all(served, tmp_path / "tables", tmp_path / "plots")
    names = {path.name for path in written}
    assert {"batching.csv", "batching.md", "batching.html", "batching-verdicts.md"} <= names
    assert {layout.BATCHING_PLOT.format(backbone="smollm2-135m", figure=name) for name in layout.BATCHING_FIGURES} <= names
    markdown = (tmp_path / "tables" / "batching.md").read_text()
    assert "static (best static)" in markdown and "static-t0.5-b8 (best static)" not in markdown
    # 35 window requests per run: p95 per run; pooled over 3 seeds, 105: p99 per workload
    assert "(p95)" in markdown and "(p99)" in markdown
    assert "not counted" in markdown and "nan" not in markdown
    verdicts = (tmp_path / "tables" / "batching-verdicts.md").read_text()
    bullets = [line[2:] for line in verdicts.splitlines() if line.startswith("- ")]
    assert bullets == [text for _, text in report.build_tables(served, Objectives())["verdicts"]]
    frame = pd.read_csv(tmp_path / "tables" / "batching.csv")
    assert len(frame) == sum(len(systems) for systems in RUNS.values()) * len(SEEDS)
    assert {"makespan_requests_per_s", THROUGHPUT, REQUESTS_RATE, "returned_per_arrived", "prefill_per_decode", "streams",
            "goodput_requests_per_s", "window_start_s", "window_end_s",
            "wasted_kv_fraction", "copied_bytes", "peak_above_loaded_mib"} <= set(frame.columns)


def test_the_command_takes_the_objectives(served, tmp_path):
    from revmux.cli.main import main

    assert main(["serve-report", "--served", *map(str, served), "--tables", str(tmp_path), "--plots", str(tmp_path),
                 "--slo-ttft", "100", "--slo-tpot", "100"]) == 0
    frame = pd.read_csv(tmp_path / "batching.csv")
    # every window request meets objectives this loose: goodput is the window throughput
    assert frame["goodput_requests_per_s"].to_numpy() == pytest.approx(frame[REQUESTS_RATE].to_numpy())
    assert main(["serve-report", "--served", str(served[0]), "--tables", str(tmp_path), "--plots", str(tmp_path),
                 "--slo-tpot", "0"]) == 2


def test_a_system_keeps_up_only_where_it_keeps_up_at_every_seed():
    """One seed of three that fell behind (0.82 returned per arrived) makes the system not keep up: a median
    (0.90) would call it keeping up and compare the latency of a partly saturated run."""
    from revmux.batching.report import keeps_up

    assert keeps_up(pd.Series([0.82, 0.92, 0.90])) is False
    assert keeps_up(pd.Series([0.95, 1.0, 0.91])) is True
    assert keeps_up(pd.Series([None, None])) is None
