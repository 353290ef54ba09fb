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
    # Gold cascade costs: a 0.5, b 1 + 10 = 11 (small fails: the large model runs too), c 5.
    # LEC with the cascade: a 1.5, b 22, c 15: keeps b.
    assert run("lec", "cascade-gold", "offline", 1).total_cost == pytest.approx(3 * 0.5 + 3 * 5)
    # The oracle: per query the cheaper of cascade and large (a 0.5, b 10, c 5); a 1.5, b 20, c 15: keeps b.
    assert run("oracle", "simulated", "offline", 1, accuracy=1.0).total_cost == pytest.approx(3 * 0.5 + 3 * 5)


def test_a_selector_of_accuracy_zero_always_takes_the_dearer_route():
    # No cache: every request pays max(cascade, large), the cascade charged what ran (b: 1 + 10): a 1, b 11, c 100.
    outcome = run("lfu", "simulated", "offline", 0, accuracy=0.0)
    assert outcome.total_cost == pytest.approx(3 * 1 + 2 * 11 + 3 * 100)
    assert run("lfu", "simulated", "offline", 0, accuracy=1.0).total_cost == pytest.approx(3 * 0.5 + 2 * 10 + 3 * 5)


def test_served_accuracy_counts_the_cached_answer_of_whichever_model_produced_it():
    # LEC with the large model keeps c, filled with the large model's answer, which is wrong: the three hits
    # on c serve a wrong answer; a and b are served right by the large model.
    outcome = run("lec", "large", "offline", 1)
    assert outcome.hits == 3
    assert outcome.served_accuracy == pytest.approx(5 / 8)
    # The gold cascade answers c with the small model (right) and b with the large one after the small one fails.
    assert run("lec", "cascade-gold", "offline", 0).served_accuracy == pytest.approx(1.0)


BANDIT_FRAME = pd.DataFrame({"request": range(6), "query": ["fails"] * 3 + ["works"] * 3,
                             "cost_small": [1.0] * 6, "cost_large": [2.0] * 6,
                             "small_correct": [0] * 3 + [1] * 3, "large_correct": [1] * 6,
                             "escalate": [1] * 3 + [0] * 3})  # a detector that is right here


def test_the_strict_bandit_tries_each_arm_once_then_exploits_and_pays_for_every_observation():
    # Costs here do not vary, so the pooled variance is 0 and Thompson sampling takes the lower mean.
    # "fails": the cascade first (1 + 2: it escalates), then the large model (2 < 3). "works": the cascade
    # (1, the large cost unseen), the large model once to learn its cost (2), then the cascade again (1 < 2).
    outcome = run("lfu", "bandit", "online", 0, frame=BANDIT_FRAME)
    assert outcome.total_cost == pytest.approx(3 + 2 + 2 + 1 + 2 + 1)
    assert outcome.large_calls == 4 and outcome.small_calls == 3
    # Cheaper small model, never judged: the strict bandit still pays once to learn the large cost.
    cheap_small = BANDIT_FRAME.assign(cost_small=1.0, cost_large=3.0, small_correct=np.nan, large_correct=np.nan,
                                      escalate=np.nan)
    strict = run("lfu", "bandit", "online", 0, frame=cheap_small)
    assert strict.total_cost == pytest.approx(2 * (1 + 3 + 1)) and strict.large_calls == 2


def test_the_strict_bandit_samples_from_the_pooled_spread_and_weighs_a_half_explored_query_at_zero():
    from revmux.caching.accounting import CASCADE, LARGE
    from revmux.caching.selectors.bandit import BanditLearned

    frame = pd.DataFrame({"request": range(6), "query": list("aaabbb"), "cost_small": [1.0, 3.0, 2.0, 5.0, 5.0, 5.0],
                          "cost_large": 2.0})
    trace = trace_from_frame(frame)
    bandit = BanditLearned(mode="strict")
    bandit.start(trace, bandit.table(trace), np.random.RandomState(0))
    bandit.cascade_draws[:] = [0.0] * 5 + [-3.0]  # per request
    bandit.large_draws[:] = [0.0] * 5 + [3.0]
    assert bandit.serve(0, 0) == CASCADE and bandit.expected[0] == 0.0  # one arm tried: no weight yet
    assert bandit.serve(0, 1) == LARGE and bandit.expected[0] == pytest.approx(1.0)  # min(1, 2)
    assert bandit.serve(0, 2) == CASCADE  # 1 < 2 at zero draws; the cascade then costs 2 here: mean 1.5
    assert bandit.pooled[CASCADE] == pytest.approx(0.5) and bandit.freedom[CASCADE] == 1
    assert bandit.serve(1, 3) == CASCADE and bandit.serve(1, 4) == LARGE  # b: each arm once (5, then 2)
    # b's cascade mean 5 against the large model's 2; the pooled cascade variance 0.5 / 1 over 1 observation:
    # a draw of -3 puts the cascade at 5 - 3 x 0.71 = 2.88, still above 2; the large arm has no spread yet.
    assert bandit.serve(1, 5) == LARGE


def test_the_artifact_bandit_learns_the_large_cost_without_paying_for_it():
    # The authors' rule: a failed cascade is charged the large model twice (1 + 2 x 2), and a query switches
    # to the large model once its mean is below the cascade's. "works" never shows the large cost: cascade.
    outcome = simulate(trace_from_frame(BANDIT_FRAME), Setup("lfu", "bandit", "online", 0, mode="artifact"))
    assert outcome.total_cost == pytest.approx(5 + 2 + 2 + 1 + 1 + 1)
    # Never judged: every cascade "shows" the large cost 3 without running it, so it never pays to learn it.
    cheap_small = BANDIT_FRAME.assign(cost_small=1.0, cost_large=3.0, small_correct=np.nan, large_correct=np.nan,
                                      escalate=np.nan)
    artifact = simulate(trace_from_frame(cheap_small), Setup("lfu", "bandit", "online", 0, mode="artifact"))
    assert artifact.total_cost == pytest.approx(6 * 1) and artifact.large_calls == 0


def test_each_trained_selector_pays_for_what_it_reads():
    # The query-only selector (0.1 a call) sends a and b to the small model, c to the large one: b's wrong
    # small answer and c's wrong large answer are served.
    frame = hand_trace().assign(selector_cost=0.1, pick_small=[int(q in "ab") for q in ORDER],
                                keep_small=[int(q in "ac") for q in ORDER])
    query_only = run("lfu", "query-classifier", "online", 0, frame=frame)
    assert query_only.total_cost == pytest.approx(3 * 0.6 + 2 * 1.1 + 3 * 100.1)
    assert query_only.served_accuracy == pytest.approx(3 / 8)
    assert (query_only.small_calls, query_only.large_calls, query_only.selector_calls) == (5, 3, 8)
    # The selector that reads the small answer runs the small model on every miss, and the large one where it
    # rejects that answer (b): 0.1 + 0.5 for a, 0.1 + 1 + 10 for b, 0.1 + 5 for c.
    reads_answer = run("lfu", "answer-classifier", "online", 0, frame=frame)
    assert reads_answer.total_cost == pytest.approx(3 * 0.6 + 2 * 11.1 + 3 * 5.1)
    assert reads_answer.served_accuracy == pytest.approx(1.0)
    assert (reads_answer.small_calls, reads_answer.large_calls, reads_answer.selector_calls) == (8, 2, 8)
    assert reads_answer.small_cost == pytest.approx(3 * 0.5 + 2 * 1 + 3 * 5)


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
    assert main(["cache-replay", "--trace", str(trace), "--policies", "lec", "--selectors", "large", "cascade-gold",
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
    (lambda f: f.assign(query=["a", "", "b", "c", "c", "a", "b", "c"]), "row 2: empty query id"),
    (lambda f: f.assign(size=[1, 0, 1, 1, 1, 1, 1, 1]), "row 2 (request '1'): size '0' must be a positive number"),
    (lambda f: f.assign(selector_cost=[0, 0, 0, -0.5, 0, 0, 0, 0]), "row 4 (request '3'): selector_cost '-0.5' must be a finite number >= 0"),
    (lambda f: f.assign(keep_small=[1, 0, 1, 1, 1, 1, 1, 1]), "row 2 (request '1'): keep_small '0' differs from earlier requests of query 'a'"),
    (lambda f: f.assign(pick_small=[1, 1, 1, 1, 0, 1, 1, 1]), "row 5 (request '4'): pick_small '0' differs from earlier requests of query 'c'"),
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
    (["--policies", "lfu", "fifo", "--selectors", "large"], "unknown cache policy 'fifo'"),
    (["--selectors", "large", "coin"], "unknown selector 'coin'"),
    (["--cache-size", "-1"], "cache size -1.0 must be a number >= 0"),
    (["--selectors", "simulated", "--selector-accuracy", "1.2", "--scenario", "offline"], "selector accuracy 1.2 must be in [0, 1]"),
    (["--selectors", "simulated", "--scenario", "offline"], "needs its accuracy"),
    (["--policies", "lru", "--scenario", "offline"], "'lru' has no offline"),
    (["--selectors", "classifier"], "needs the trace's keep_small column"),
    (["--selectors", "query-classifier"], "needs the trace's pick_small column"),
    (["--selectors", "cascade"], "needs the trace's escalate column"),
    (["--selectors", "bandit", "--scenario", "offline", "--policies", "lec"], "learns online"),
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


# A trace with sizes and a selector's own cost, worked out by hand for every policy (docs: the docstrings of
# revmux/caching/policies). Sizes a 1, b 2, c 1; cache 2; the query-only selector (0.5 a call) sends a and c
# to the small model and b to the large one, so a miss costs a 1.5, b 10.5, c 4.5.
SIZED = pd.DataFrame({"request": range(8), "query": list("abacbacc"),
                      "cost_small": [{"a": 1, "b": 2, "c": 4}[q] for q in "abacbacc"],
                      "cost_large": [{"a": 3, "b": 10, "c": 20}[q] for q in "abacbacc"],
                      "small_correct": [int(q != "b") for q in "abacbacc"], "large_correct": 1,
                      "size": [{"a": 1, "b": 2, "c": 1}[q] for q in "abacbacc"], "selector_cost": 0.5,
                      "pick_small": [int(q != "b") for q in "abacbacc"]})


def sized(policy, scenario, selector="query-classifier", accuracy=None, mode="strict"):
    return simulate(trace_from_frame(SIZED), Setup(policy, selector, scenario, 2, accuracy, mode))


def test_lfu_with_sizes_replaces_a_set_only_when_the_newcomer_outweighs_it_all():
    # a in; b (count 1, size 2) would evict a (count 1): not more, stays out; a hit; c in (room);
    # b (count 2) would evict c (1) and a (2), together 3: stays out; a, c, c hit.
    outcome = sized("lfu", "online")
    assert outcome.total_cost == pytest.approx(1.5 + 10.5 + 4.5 + 10.5)
    assert outcome.hits == 4


def test_lec_with_sizes_ranks_by_weight_per_unit_of_size():
    # a in (1.5); b (weight 10.5 > a's 1.5) replaces a; a (2 x 1.5 = 3) and c (4.5) do not outweigh b (10.5);
    # b hit (21); a (4.5), c (9), c (13.5) stay below b's 21: the last after b's stale heap value (10.5) is
    # brought up to date.
    outcome = sized("lec", "online")
    assert outcome.total_cost == pytest.approx(1.5 + 10.5 + 1.5 + 4.5 + 1.5 + 4.5 + 4.5)
    assert outcome.hits == 1


def test_gdsf_with_sizes_inflates_by_each_evicted_priority():
    # H = L + count x cost / size. a 1.5; b evicts a (L 1.5): 1.5 + 10.5 / 2 = 6.75; a evicts b (L 6.75):
    # 6.75 + 2 x 1.5 = 9.75; c fits: 6.75 + 4.5 = 11.25; b evicts a (L 9.75) and c (L 11.25): 11.25 + 2 x
    # 10.5 / 2 = 21.75; a evicts b (L 21.75): 26.25; c fits; c hits.
    outcome = sized("gdsf", "online")
    assert outcome.total_cost == pytest.approx(1.5 + 10.5 + 1.5 + 4.5 + 10.5 + 1.5 + 4.5)
    assert outcome.hits == 1


def test_the_oracle_solves_the_knapsack_where_greedy_by_density_would_not():
    # The perfect selector (free) takes the cheapest route to a right answer: a's small model 1, b's large
    # model 10 (its small answer is wrong), c's small model 4; worth keeping: a 3 x 1 = 3, b 20, c 12.
    # Greedy by worth per size keeps c and a (15); the best set is b alone (20), so a and c miss.
    oracle = sized("oracle", "offline", "perfect")
    assert oracle.total_cost == pytest.approx(3 * 1 + 3 * 4)
    assert oracle.note == "exact knapsack" and oracle.served_accuracy == 1.0 and oracle.selector_calls == 0
    # LEC and LFU, filled once, rank by worth per unit of size: both keep c and a, so b misses twice.
    assert sized("lec", "offline").total_cost == pytest.approx(2 * 10.5)
    assert sized("lfu", "offline").total_cost == pytest.approx(2 * 10.5)
    # Sizes that are not whole numbers: greedy, and the note says how far from the best it can be.
    halves = simulate(trace_from_frame(SIZED.assign(size=SIZED["size"] + 0.5)),
                      Setup("oracle", "perfect", "offline", 2.5))
    assert halves.note.startswith("greedy by value per unit of size") and "at most" in halves.note
    # Sizes a hair above whole numbers are not rounded into a set that overfills the cache.
    over = simulate(trace_from_frame(SIZED.assign(size=SIZED["size"] + 1e-7)), Setup("oracle", "perfect", "offline", 2))
    assert over.note.startswith("greedy") and over.hits == 3  # only c (or a) fits: 1 + 2e-7 twice would not


def test_sizes_that_add_up_in_floating_point_still_fit_and_ties_do_not_hang_on_rounding():
    # Three answers of 0.1 fit a cache of 0.3 (0.1 + 0.1 + 0.1 is 0.30000000000000004 in floating point).
    frame = pd.DataFrame({"request": range(6), "query": list("abcabc"), "cost_small": 1.0, "cost_large": 1.0,
                          "size": 0.1})
    assert simulate(trace_from_frame(frame), Setup("lfu", "large", "online", 0.3)).hits == 3
    # A newcomer exactly as heavy as the entry it would evict stays out: a (size 11) weighs 2 x 7.5 = 15 when
    # b (size 11, cost 15) arrives. Summing density x size would call a lighter (15/11 x 11 rounds to
    # 14.999999999999998) and evict it; a's last request must hit. c only makes the sizes unequal.
    frame = pd.DataFrame({"request": range(5), "query": list("aabca"), "cost_small": 1.0,
                          "cost_large": [7.5, 7.5, 15.0, 1.0, 7.5], "size": [11, 11, 11, 5, 11]})
    outcome = simulate(trace_from_frame(frame), Setup("lec", "large", "online", 11))
    assert outcome.hits == 2


def test_lec_expects_an_imperfect_selector_to_pay_its_accuracy_mix_of_routes():
    # Unit sizes, cache 1, no selector cost. Per request the cheaper / dearer route: a 0.5 / 1, b 10 / 11,
    # c 5 / 100. At accuracy 0.5, strict LEC weighs a 3 x 0.75, b 2 x 10.5, c 3 x 52.5: keeps c. The
    # authors' weighting (a perfect selector's cost: a 1.5, b 20, c 15) keeps b.
    strict = run("lec", "simulated", "offline", 1, accuracy=0.5)
    artifact = simulate(trace_from_frame(hand_trace()), Setup("lec", "simulated", "offline", 1, 0.5, "artifact"))
    assert strict.hits == 3 and artifact.hits == 2  # c is asked three times, b twice


def test_the_static_cache_served_request_by_request_costs_what_the_vectorised_path_does():
    random = np.random.default_rng(5)
    queries = random.integers(0, 30, 600)
    frame = pd.DataFrame({"request": range(600), "query": queries, "cost_small": random.uniform(0.1, 2, 600),
                          "cost_large": random.uniform(1, 20, 600), "small_correct": random.integers(0, 2, 600),
                          "large_correct": random.integers(0, 2, 600), "size": (queries % 3) + 1,
                          "selector_cost": random.uniform(0, 0.2, 600), "escalate": random.integers(0, 2, 600),
                          "keep_small": queries % 2, "pick_small": (queries // 2) % 2})
    trace = trace_from_frame(frame)
    for policy, selector, accuracy in [("lfu", "large", None), ("lec", "cascade", None), ("gdsf", "answer-classifier", None),
                                       ("lec", "query-classifier", None), ("oracle", "simulated", 1.0),
                                       ("lec", "simulated", 0.7)]:
        setup = Setup(policy, selector, "offline", 12, accuracy)
        assert simulate(trace, setup, 3) == simulate(trace, setup, 3, one_by_one=True)


def test_online_heap_policies_match_the_linear_scan_they_replace():
    for seed in range(3):
        trace = synthetic_trace(3000, 60, 1.5, 0.6, seed)
        for policy in ("lfu", "lec"):
            entries, counts, spent, served, total = [], [0] * trace.queries, [0.0] * trace.queries, [0] * trace.queries, 0.0
            for request, query in enumerate(trace.query.tolist()):
                counts[query] += 1
                if query in entries:
                    continue
                total += trace.cost_large[request]
                spent[query] += trace.cost_large[request]
                served[query] += 1

                def weight(q):
                    return counts[q] if policy == "lfu" else counts[q] * spent[q] / served[q]
                if len(entries) < 10:
                    entries.append(query)
                    continue
                victim = min(range(len(entries)), key=lambda index: weight(entries[index]))
                if weight(entries[victim]) < weight(query):
                    entries[victim] = query
            assert simulate(trace, Setup(policy, "large", "online", 10), seed).total_cost == pytest.approx(total, rel=1e-12)


# Zhu et al.'s own code (github.com/Ying1123/llm-caching-multiplexing at 2dc7e69b361be0c007708670ff044218ad8e6c10,
# inferband's generate_requests and Server, run in a scratch folder on 2026-12-03 with num_round 2000,
# num_query 20, cache_size 8, cost_ratio 100, align_type "random", cost_dist "binomial", seeds 0-4: the
# call of benchmarks/zhu_artifact_check.py): the total cost per seed, to the printed digits.
ARTIFACT_TOTALS = {
    ("offline", "lec", "simulated", 0.8, 0.8): [34233.446590624015, 12455.237401206177, 11353.74327500862,
                                                 10154.938705453103, 16831.822545173938],
    ("online", "lec", "bandit", 0.5, 1.0): [21444.391968677195, 1642.3649870588836, 1552.2427379887886,
                                            1760.6500717912504, 2426.332369030743],
    ("online", "lfu", "large", 0.5, 1.0): [56075.37851414298, 49603.06438718132, 26792.02198251376,
                                           36144.62838881805, 50811.659782541654],
}


@pytest.mark.parametrize("cell", list(ARTIFACT_TOTALS))
def test_the_artifact_mode_gives_the_authors_code_s_totals_seed_for_seed(cell):
    scenario, policy, selector, alpha, accuracy = cell
    setup = Setup(policy, selector, scenario, 8, accuracy if selector == "simulated" else None, "artifact")
    for seed, expected in enumerate(ARTIFACT_TOTALS[cell]):
        trace = synthetic_trace(2000, 20, 100, alpha, seed)
        assert simulate(trace, setup, seed).total_cost == pytest.approx(expected, rel=1e-12)
