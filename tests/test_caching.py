"""The caching track: each cache policy and selector on hand-made traces whose costs are worked out here by
hand, seeded determinism, the synthetic suite's tables, and bad input refused before any simulation."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from revmux.caching.simulate import Setup, simulate
from revmux.caching.suites import SyntheticSuite, run_synthetic
from revmux.caching.traces import read_trace, synthetic_trace, trace_from_frame
from revmux.cli.main import main
from revmux.core.errors import RevmuxError

# Three queries: a cheap one, a dear one and a very dear one for the large model.
LARGE_COST = {"a": 1.0, "b": 10.0, "c": 100.0}
SMALL_COST = {"a": 0.5, "b": 1.0, "c": 5.0}
SMALL_RIGHT = {"a": 1, "b": 0, "c": 1}
LARGE_RIGHT = {"a": 1, "b": 1, "c": 0}
ORDER = "a a b c c a b c".split()


def hand_trace(order=ORDER) -> pd.DataFrame:
    return pd.DataFrame({
        "request": range(len(order)), "query": order,
        "cost_small": [SMALL_COST[q] for q in order], "cost_large": [LARGE_COST[q] for q in order],
        "small_correct": [SMALL_RIGHT[q] for q in order], "large_correct": [LARGE_RIGHT[q] for q in order],
    })


def run(policy, selector, scenario, cache_size, accuracy=None, frame=None, seed=0):
    return simulate(trace_from_frame(hand_trace() if frame is None else frame), Setup(policy, selector, scenario, cache_size, accuracy), seed)


def test_lfu_online_keeps_the_most_asked_and_admits_only_a_more_frequent_newcomer():
    # a: miss 1, in; a: hit; b: miss 10, in; c (count 1, not > b's 1): miss 100, out; c (2 > b's 1): miss 100,
    # replaces b; a: hit; b (2, not > c's 2): miss 10, out; c: hit.
    outcome = run("lfu", "large", "online", 2)
    assert outcome.total_cost == pytest.approx(1 + 10 + 100 + 100 + 10)
    assert outcome.hits == 3


def test_lec_online_weighs_frequency_by_expected_cost():
    # a: miss 1, in; a: hit; b: miss 10, in; c: miss 100, weight 100 > a's 2 x 1: replaces a; c: hit;
    # a: weight 3 x 1 < b's 10: miss 1, out; b: hit; c: hit.
    outcome = run("lec", "large", "online", 2)
    assert outcome.total_cost == pytest.approx(1 + 10 + 100 + 1)
    assert outcome.hits == 4


def test_gdsf_online_evicts_the_lowest_priority_and_inflates():
    # H = L + count x cost. a: miss 1, H 1; a: hit, H 2; b: miss 10, H 10; c: miss 100, evicts a (L = 2),
    # H 102; c: hit, H 202; a: miss 1, evicts b (L = 10), H 13; b: miss 10, evicts a (L = 13), H 33; c: hit.
    outcome = run("gdsf", "large", "online", 2)
    assert outcome.total_cost == pytest.approx(1 + 10 + 100 + 1 + 10)
    assert outcome.hits == 3


def test_lru_online_evicts_the_least_recently_asked():
    # a: miss; a: hit; b: miss; c: miss, evicts a; c: hit; a: miss, evicts b; b: miss, evicts c; c: miss, evicts a.
    outcome = run("lru", "large", "online", 2)
    assert outcome.total_cost == pytest.approx(1 + 10 + 100 + 1 + 10 + 100)
    assert outcome.hits == 2


def test_offline_fills_the_top_k_once_and_breaks_ties_by_first_appearance():
    # Counts a 3, b 2, c 3. LFU keeps a (ties with c; a came first): b twice and c three times miss.
    assert run("lfu", "large", "offline", 1).total_cost == pytest.approx(2 * 10 + 3 * 100)
    # LEC with the large model: a 3 x 1, b 2 x 10, c 3 x 100: keeps c; a three times and b twice miss.
    assert run("lec", "large", "offline", 1).total_cost == pytest.approx(3 * 1 + 2 * 10)
    # Cascade costs: a 0.5, b 1 + 2 x 10 = 21 (small fails: the large one is charged twice), c 5.
    # LEC with the cascade: a 1.5, b 42, c 15: keeps b.
    assert run("lec", "cascade", "offline", 1).total_cost == pytest.approx(3 * 0.5 + 3 * 5)
    # The oracle: per query the cheaper of cascade and large (a 0.5, b 10, c 5); a 1.5, b 20, c 15: keeps b.
    assert run("oracle", "simulated", "offline", 1, accuracy=1.0).total_cost == pytest.approx(3 * 0.5 + 3 * 5)


def test_a_selector_of_accuracy_zero_always_takes_the_dearer_route():
    # No cache: every request pays max(cascade, large): a 1, b 21, c 100.
    outcome = run("lfu", "simulated", "offline", 0, accuracy=0.0)
    assert outcome.total_cost == pytest.approx(3 * 1 + 2 * 21 + 3 * 100)
    assert run("lfu", "simulated", "offline", 0, accuracy=1.0).total_cost == pytest.approx(3 * 0.5 + 2 * 10 + 3 * 5)


def test_served_accuracy_counts_the_cached_answer_of_whichever_model_produced_it():
    # LEC with the large model keeps c, filled with the large model's answer, which is wrong: the three hits
    # on c serve a wrong answer; a and b are served right by the large model.
    outcome = run("lec", "large", "offline", 1)
    assert outcome.hits == 3
    assert outcome.served_accuracy == pytest.approx(5 / 8)
    # The cascade answers c with the small model (right) and b with the large one after the small one fails.
    assert run("lec", "cascade", "offline", 0).served_accuracy == pytest.approx(1.0)


def test_the_bandit_selector_switches_a_query_to_the_large_model_only_after_seeing_it_cheaper():
    frame = pd.DataFrame({"request": range(6), "query": ["fails"] * 3 + ["works"] * 3,
                          "cost_small": [1.0] * 6, "cost_large": [2.0] * 6,
                          "small_correct": [0] * 3 + [1] * 3, "large_correct": [1] * 6})
    # "fails": the cascade costs 1 + 2 x 2 = 5 and, the small answer having failed, shows the large cost 2:
    # then the large model (2 < 5). "works": the cascade costs 1 and never shows the large cost: cascade.
    outcome = run("lfu", "bandit", "online", 0, frame=frame)
    assert outcome.total_cost == pytest.approx(5 + 2 + 2 + 1 + 1 + 1)
    assert outcome.large_calls == 3
    # Not judged (the synthetic setting): the small model counts as right, and the large one runs to check.
    unjudged = frame.assign(cost_small=3.0, cost_large=1.0, small_correct=np.nan, large_correct=np.nan)
    assert run("lfu", "bandit", "online", 0, frame=unjudged).total_cost == pytest.approx(3 + 1 + 1 + 3 + 1 + 1)


def test_the_classifier_selector_serves_its_small_answers_unchecked():
    frame = hand_trace().assign(small_first=[1 if q in ("a", "b") else 0 for q in ORDER])
    outcome = run("lfu", "classifier", "online", 0, frame=frame)
    # a and b go to the small model (b's answer is wrong and is served), c to the large one (wrong too).
    assert outcome.total_cost == pytest.approx(3 * 0.5 + 2 * 1 + 3 * 100)
    assert outcome.served_accuracy == pytest.approx(3 / 8)


def test_seeded_runs_are_deterministic_and_seeds_differ():
    setup = Setup("lec", "simulated", "offline", 8, 0.8)
    first = simulate(synthetic_trace(2000, 20, 100, 0.8, seed=3), setup, 3)
    again = simulate(synthetic_trace(2000, 20, 100, 0.8, seed=3), setup, 3)
    other = simulate(synthetic_trace(2000, 20, 100, 0.8, seed=4), setup, 4)
    assert (first.total_cost, first.hits, first.large_calls) == (again.total_cost, again.hits, again.large_calls)
    assert first.total_cost != other.total_cost
    online = Setup("gdsf", "bandit", "online", 8)
    runs = [simulate(synthetic_trace(2000, 20, 1.5, 0.5, 1), online, 1) for _ in range(2)]
    assert runs[0].total_cost == runs[1].total_cost and runs[0].hits == runs[1].hits


def test_synthetic_trace_follows_the_papers_setting():
    trace = synthetic_trace(20000, 20, cost_ratio=100, alpha=0.5, seed=0)
    counts = np.bincount(np.asarray(trace.query_names, int)[trace.query], minlength=20)
    assert counts[:5].sum() > counts[-5:].sum() * 2  # low ids popular: Power(0.5) piles up near 0
    base = np.round(trace.cost_small)  # noise N(0, 1) around 1 or 101, floored at 0.1
    assert trace.cost_small.min() >= 0.1
    assert set(np.unique(np.where(base > 50, 101, 1))) <= {1, 101}
    assert np.isnan(trace.small_correct).all()


def test_the_suite_tables_hold_every_paper_cell_beside_its_published_value(tmp_path):
    out = tmp_path / "runs.csv.gz"
    assert main(["cache-suite", "--runs", "2", "--requests", "300", "--no-progress", "--out", str(out)]) == 0
    runs = pd.read_csv(out)
    suite = SyntheticSuite(runs=2)
    assert len(runs) == len(suite.cells()) * 2
    assert main(["cache-report", "--suite", str(out), "--tables", str(tmp_path), "--plots", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "caching-synthetic.csv")
    cell = table[(table.scenario == "offline") & (table.alpha == 0.5) & (table.cost_ratio == 1.5)
                 & (table.selector_accuracy == 0.8) & (table.column == "LEC+selector")].iloc[0]
    assert cell.published == 4.55
    assert cell.ours_over_published == pytest.approx(cell.ours / 4.55)
    assert table["published"].notna().sum() == 8 * 6 + 4 * 6  # every cell of both published tables
    ratios = pd.read_csv(tmp_path / "caching-synthetic-ratios.csv")
    assert len(ratios) == 12 and (ratios["ratio_of_means"] > 0).all()
    assert "LFU+model 1" in (tmp_path / "caching-synthetic.md").read_text()
    assert (tmp_path / "caching-synthetic-ours-vs-published.svg").stat().st_size > 0


def test_replay_of_a_users_trace_reports_cost_ratio_hit_rate_and_served_accuracy(tmp_path):
    trace = tmp_path / "trace.csv"
    hand_trace().to_csv(trace, index=False)
    out = tmp_path / "replay.csv"
    assert main(["cache-replay", "--trace", str(trace), "--policies", "lec", "--selectors", "large", "cascade",
                 "--scenario", "offline", "--cache-size", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index(["policy", "selector"])
    assert table.loc[("lec", "large"), "total_cost"] == pytest.approx(23)
    assert table.loc[("lfu", "large"), "total_cost"] == pytest.approx(320)  # the baseline, added
    assert table.loc[("lec", "large"), "cost_over_lfu_large"] == pytest.approx(23 / 320)
    assert table.loc[("lec", "large"), "served_accuracy"] == pytest.approx(5 / 8)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="cost_large"), "missing column(s) cost_large"),
    (lambda f: f.assign(cost_small=[0.5, -1, 1, 1, 1, 1, 1, 1]), "row 2 (request '1'): cost_small '-1.0' must be a finite number >= 0"),
    (lambda f: f.assign(cost_large=["1", "x", 1, 1, 1, 1, 1, 1]), "row 2 (request '1'): cost_large 'x'"),
    (lambda f: f.assign(small_correct=[1, 2, 1, 1, 1, 1, 1, 1]), "row 2 (request '1'): small_correct '2' must be 0 or 1"),
])
def test_a_bad_trace_names_its_row_and_writes_nothing(tmp_path, capsys, change, message):
    trace = tmp_path / "trace.csv"
    change(hand_trace()).to_csv(trace, index=False)
    with pytest.raises(RevmuxError) as error:
        read_trace(trace)
    assert message in str(error.value)
    out = tmp_path / "replay.csv"
    assert main(["cache-replay", "--trace", str(trace), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("arguments, message", [
    (["--policies", "lfu", "fifo"], "unknown cache policy 'fifo'"),
    (["--selectors", "large", "coin"], "unknown selector 'coin'"),
    (["--cache-size", "-1"], "cache size -1.0 must be a number >= 0"),
    (["--selectors", "simulated", "--selector-accuracy", "1.2", "--scenario", "offline"], "selector accuracy 1.2 must be in [0, 1]"),
    (["--selectors", "simulated", "--scenario", "offline"], "needs its accuracy"),
    (["--policies", "lru", "--scenario", "offline"], "'lru' has no offline"),
    (["--selectors", "classifier"], "needs the trace's small_first column"),
])
def test_bad_settings_are_refused_before_any_simulation(tmp_path, capsys, arguments, message):
    trace = tmp_path / "trace.csv"
    hand_trace().to_csv(trace, index=False)
    out = tmp_path / "replay.csv"
    assert main(["cache-replay", "--trace", str(trace), *arguments, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_workflow_schema_and_the_suite_share_their_defaults():
    import yaml

    from revmux.core.schemas import schema_path

    block = yaml.safe_load(schema_path("config").read_text())["properties"]["caching"]["properties"]
    suite = SyntheticSuite()
    for key in ("runs", "requests", "queries", "cache_size"):
        assert block[key]["default"] == getattr(suite, key), key
    from revmux.caching.pairs import SELECTOR_THRESHOLD, ReplayGrid

    assert block["pair_seeds"]["default"] == ReplayGrid().seeds
    assert block["selector_threshold"]["default"] == SELECTOR_THRESHOLD



def _fake_run(folder, method, answers, seconds, flops, timing, valid=True):
    """A finished evaluation (both splits) and speed profile, as the multiplexing track writes them."""
    import json

    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"config": {"method": method}}))
    for name, (labels, predictions, confidences) in answers.items():
        frame = pd.DataFrame({"regrouping": 0, "example": range(len(labels)), "label": labels,
                              "prediction": predictions, "confidence": confidences})
        (folder / name).write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    speed = folder / "speed.json"
    speed.write_text(json.dumps({"latency": {timing: {"samples_per_s": 1 / seconds}},
                                 "flops_per_sample": {timing: flops}, "validity": {"valid": valid, "reasons": ["noisy"]}}))
    return speed


def test_a_model_pair_gives_per_query_correctness_costs_a_trained_selector_and_replays(tmp_path):
    random = np.random.default_rng(0)
    labels = random.integers(0, 2, 400)
    # The small model is right exactly when it is confident: a selector can learn that from its confidence.
    confidence = random.uniform(0.5, 1, 400)
    small_right = confidence > 0.7
    small_answers = np.where(small_right, labels, 1 - labels)
    large_answers = labels.copy()
    large_answers[:20] = 1 - labels[:20]
    answers = {"predictions.csv.gz": None, "predictions-validation.csv.gz": None}
    small = {name: (labels, small_answers, confidence) for name in answers}
    large = {name: (labels, large_answers, np.ones(400)) for name in answers}
    small_speed = _fake_run(tmp_path / "small", "revmux", small, 0.001, 2e9, "multiplexed")
    large_speed = _fake_run(tmp_path / "large", "identity", large, 0.004, 8e9, "teacher")
    out = tmp_path / "pair"
    assert main(["cache-pair", "--small-run", str(tmp_path / "small"), "--small-speed", str(small_speed),
                 "--large-run", str(tmp_path / "large"), "--large-speed", str(large_speed), "--runs", "2",
                 "--requests", "2000", "--cache-sizes", "0", "40", "--no-progress", "--out", str(out)]) == 0
    import json

    selector = json.loads((out / "selector.json").read_text())
    assert selector["accuracy"] > 0.95 > selector["always_small_accuracy"]
    assert selector["small_accuracy"] == pytest.approx(small_right.mean())
    assert selector["large_accuracy"] == pytest.approx(0.95)
    assert selector["cost_ratio_seconds"] == pytest.approx(4) and selector["cost_ratio_flops"] == pytest.approx(4)
    per_query = pd.read_csv(out / "per-query.csv")
    assert (per_query["small_first"] == small_right).mean() > 0.95
    replays = pd.read_csv(out / "replays.csv")
    no_cache = replays[(replays.cache_size == 0) & (replays.unit == "seconds") & (replays.policy == "lfu")]
    # Without a cache every request is served: always-large costs 0.004 s each and is 95% right.
    large_rows = no_cache[no_cache.selector == "large"]
    assert large_rows["total_cost"].to_numpy() == pytest.approx(2000 * 0.004)
    classifier = no_cache[no_cache.selector == "classifier"]
    assert (classifier["total_cost"] < large_rows["total_cost"].to_numpy()).all()
    assert set(replays["unit"]) == {"seconds", "flops"} and set(replays["scenario"]) == {"offline", "online"}
    assert replays["served_accuracy"].between(0, 1).all()
    assert main(["cache-report", "--pairs", str(out), "--tables", str(tmp_path), "--plots", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "caching-pairs.csv")
    row = summary[(summary.scenario == "online") & (summary.alpha == 0.8) & (summary.cache_size == 40)
                  & (summary.policy == "lfu") & (summary.selector == "large")].iloc[0]
    assert row.seconds_over_lfu_large == pytest.approx(1) and row.hit_rate > 0.3
    assert row.speedup_over_all_large == pytest.approx(1 / (1 - row.hit_rate))  # constant costs: misses pay
    assert "accuracy on the held-out split: small" in (tmp_path / "caching-pairs.md").read_text()
    for figure in ("cost-vs-cache-size", "cost-vs-alpha", "accuracy-vs-speedup"):
        assert (tmp_path / f"caching-pair-{figure}.svg").stat().st_size > 0


def test_a_pair_timed_by_a_profile_marked_invalid_says_so_in_its_result_and_report(tmp_path, capsys):
    answers = {name: (np.array([0, 1, 0, 1] * 10), np.array([0, 1, 1, 1] * 10), np.linspace(0.55, 0.95, 40))
               for name in ("predictions.csv.gz", "predictions-validation.csv.gz")}
    small_speed = _fake_run(tmp_path / "small", "revmux", answers, 0.001, 2e9, "multiplexed", valid=False)
    large_speed = _fake_run(tmp_path / "large", "identity", answers, 0.004, 8e9, "teacher")
    out = tmp_path / "pair"
    assert main(["cache-pair", "--small-run", str(tmp_path / "small"), "--small-speed", str(small_speed),
                 "--large-run", str(tmp_path / "large"), "--large-speed", str(large_speed), "--queries", "20",
                 "--requests", "200", "--runs", "1", "--no-progress", "--out", str(out)]) == 0
    assert "timing profile marked invalid" in capsys.readouterr().out
    import json

    selector = json.loads((out / "selector.json").read_text())
    assert selector["timing_profiles_valid"] is False and "noisy" in selector["invalid_timing_profiles"][0]
    assert main(["cache-report", "--pairs", str(out), "--tables", str(tmp_path), "--plots", str(tmp_path)]) == 0
    assert "marked INVALID" in (tmp_path / "caching-pairs.md").read_text()
