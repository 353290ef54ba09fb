"""A model pair of this harness behind the caches: per-query costs and correctness from two evaluated runs,
the cascade's confidence detector, the two trained selectors with their measured costs, the replays, the
tables with intervals over seeds, and the workflow that feeds them."""

from __future__ import annotations

import dataclasses
import gzip
import json

import numpy as np
import pandas as pd
import pytest

from revmux.caching import pair_report, pairs
from revmux.cli.main import main
from revmux.core.errors import RevmuxError

QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)
LENGTHS = (56, 64)  # stories260K reads a review and its instruction prompt in about 50 tokens or more


def _speed_profiles(folder, seconds_at, path):
    """`revmux speed` results of stories260K (RevMUX N = 2 beside its teacher) at LENGTHS, with made-up
    timings: `path` takes seconds_at[length] per sample."""
    from revmux.multiplexing.config import SpeedSettings

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for length in LENGTHS:
        settings = dataclasses.asdict(SpeedSettings("stories260k", "revmux", 2, 2, batch_size=4, length=length, **QUICK))
        other = "multiplexed" if path == "teacher" else "teacher"
        profile = {"settings": {**settings, "threads": 1}, "backbone": {"name": "stories260k"}, "flops_per_sample": {},
                   "latency": {path: {"samples_per_s": 1 / seconds_at[length]}, other: {"samples_per_s": 1.0}},
                   "validity": {"valid": True, "reasons": []}}
        written.append(folder / f"len{length}.json")
        written[-1].write_text(json.dumps(profile))
    return written


def _data(glue_dir, eval_size=24) -> dict:
    return {"task": "sst-2", "source": "local", "glue_dir": str(glue_dir), "max_length": 64, "validation_size": 24,
            "eval_size": eval_size}


def _run(folder, method, data, right, confidence=None):
    """An evaluated run (both splits) of stories260K on SST-2 excerpts: right[split] says, per example, whether
    it answers right."""
    from revmux.multiplexing.config import DataConfig
    from revmux.multiplexing.inputs import load_run_splits, splits_fingerprint

    splits, _ = load_run_splits(DataConfig(**data))
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"config": {"method": method, "backbone": "stories260k", "data": data},
                                                      "data_hashes": splits_fingerprint(splits)}))
    for split, name in (("eval", "predictions.csv.gz"), ("validation", "predictions-validation.csv.gz")):
        rows = splits[split]
        labels = rows["label"].to_numpy()
        frame = pd.DataFrame({"regrouping": 0, "example": rows["idx"], "label": labels,
                              "prediction": np.where(right(rows), labels, 1 - labels),
                              "confidence": confidence(rows) if confidence else 0.9})
        (folder / name).write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    return folder


def _small_right(rows):
    return rows["text_a"].str.len().to_numpy() % 3 != 0  # right on about two in three


@pytest.fixture
def pair(tmp_path, glue_dir):
    data = _data(glue_dir)
    small = _run(tmp_path / "small", "revmux", data, _small_right,
                 confidence=lambda rows: np.where(_small_right(rows), 0.95, 0.6))
    large = _run(tmp_path / "large", "identity", data, lambda rows: np.ones(len(rows), bool))
    small_speed = _speed_profiles(tmp_path / "speed-small", {56: 0.001, 64: 0.002}, "multiplexed")
    large_speed = _speed_profiles(tmp_path / "speed-large", {56: 0.010, 64: 0.020}, "teacher")
    return small, small_speed, large, large_speed


def test_each_query_carries_its_own_tokens_and_costs_and_both_models_answers(pair):
    small, small_speed, large, large_speed = pair
    # the validation split: SST-2's training phrases, short and long (the held-out sentences mostly fill 64)
    table = pairs.per_query(pairs.model_of(small, small_speed), pairs.model_of(large, large_speed), "validation", LENGTHS)
    assert len(table) == 24 and table["large_correct"].all()
    assert (table["cost_small_s"] == np.where(table["tokens"] <= 56, 0.001, 0.002)).all()
    assert (table["cost_large_s"] == np.where(table["tokens_large"] <= 56, 0.010, 0.020)).all()
    assert table["tokens"].nunique() > 1 and table["cost_small_s"].nunique() == 2  # not one cost for every query
    # FLOPs at each query's own length: equal lengths cost the same, longer ones more; multiplexing saves
    by_length = table.groupby("tokens")[["cost_small_flops", "cost_large_flops"]]
    assert (by_length.nunique() == 1).all().all() and by_length.first()["cost_large_flops"].is_monotonic_increasing
    assert (table["cost_small_flops"] < table["cost_large_flops"]).all()


def test_a_pair_evaluated_on_different_examples_is_refused_with_the_fix(tmp_path, glue_dir, pair):
    small, small_speed, _, large_speed = pair
    other = _run(tmp_path / "other", "identity", _data(glue_dir, eval_size=20), lambda rows: np.ones(len(rows), bool))
    with pytest.raises(RevmuxError, match="were evaluated on different eval examples: pair runs of the same task "
                                          "and data settings"):
        pairs.per_query(pairs.model_of(small, small_speed), pairs.model_of(other, large_speed), "eval", LENGTHS)


def test_a_missing_speed_profile_at_a_cost_length_is_refused_with_the_fix(pair, tmp_path, capsys):
    small, small_speed, large, large_speed = pair
    code = main(["cache-pair", "--small-run", str(small), "--small-speeds", str(small_speed[0]), "--large-run", str(large),
                 "--large-speeds", *map(str, large_speed), "--cost-lengths", *map(str, LENGTHS), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no speed profile at cost length 64 (profiled: 56)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _frame(small_correct, large_correct, confidence, cost_small=1.0, cost_large=10.0):
    return pd.DataFrame({"small_correct": small_correct, "large_correct": large_correct,
                         "small_confidence": confidence, "cost_small_s": cost_small, "cost_large_s": cost_large})


def test_the_detector_takes_the_cheapest_threshold_that_reaches_the_large_models_validation_accuracy():
    # Large is right on 4 of 5. Escalating below 0.6 (the 0.55 answer) serves 4 of 5 right, at the least cost;
    # below 0.55 nothing escalates (3 of 5); below 0.7 and 0.8 also reach 4 of 5 or more, but dearer.
    validation = _frame([0, 1, 0, 1, 1], [1, 1, 1, 0, 1], [0.55, 0.6, 0.7, 0.8, 0.9])
    escalate, summary = pairs.confidence_detector(validation, _frame([1, 0], [1, 1], [0.58, 0.72]))
    assert summary["threshold"] == pytest.approx(0.6) and summary["reached_large_accuracy"]
    assert summary["validation_served_accuracy"] == summary["validation_large_accuracy"] == pytest.approx(0.8)
    assert summary["validation_cost_over_large"] == pytest.approx((5 + 10) / 50)
    assert escalate.tolist() == [True, False] and "lowest-cost" in summary["rule"]


def test_the_detector_never_escalates_when_the_small_model_is_as_good():
    validation = _frame([1, 1, 0, 1], [1, 0, 1, 1], [0.9, 0.8, 0.7, 0.95])
    escalate, summary = pairs.confidence_detector(validation, _frame([1], [1], [0.5]))
    assert summary["threshold"] == 0.0 and not escalate.any() and summary["validation_escalated"] == 0


def _selector_tables(seed=0, size=400):
    random = np.random.default_rng(seed)
    words = np.array(["good", "fine", "plot", "film", "actor", "scene"])
    rows = []
    for _ in range(size):
        confident = random.random() < 0.5
        hard = random.random() < 0.4
        text = " ".join(random.choice(words, 5)) + (" twist" if hard else "")
        rows.append({"small_confidence": 0.95 if confident else 0.6, "small_prediction": int(random.integers(0, 2)),
                     "small_correct": int(confident and not hard), "text": text, "tokens": 5 + hard})
    table = pd.DataFrame(rows)
    return table.iloc[: size // 2].reset_index(drop=True), table.iloc[size // 2:].reset_index(drop=True)


def test_the_answer_classifier_learns_from_the_small_answer_and_the_query_classifier_from_the_text():
    validation, held_out = _selector_tables()
    keep, answer, answer_flops = pairs.answer_selector(validation, held_out)
    pick, query, query_flops = pairs.query_selector(validation, held_out)
    confident = held_out["small_confidence"].to_numpy() > 0.9
    hard = held_out["text"].str.contains("twist").to_numpy()
    assert (keep == confident).mean() > 0.95  # reads the confidence, cannot see the hard word
    assert (pick == ~hard).mean() > 0.9  # reads the text, cannot see the confidence
    for summary in (answer, query):
        assert 0.5 < summary["balanced_accuracy"] < 1 and summary["cost_seconds"] > 0
        assert summary["held_out_examples"] == 200 and 0 < summary["sent_to_small"] < 1
    # FLOPs: 2 per nonzero feature, the confidence and a one-hot answer; hashed n-grams and the length
    assert (answer_flops == 2 * 3).all() and answer["cost_flops"] == 6
    assert query_flops.min() >= 2 * 2 and query_flops[hard].mean() > query_flops[~hard].mean()  # one more word


def test_a_selector_needs_both_kinds_of_answer_to_learn_from():
    validation, held_out = _selector_tables()
    with pytest.raises(RevmuxError, match="nothing to learn a selector from"):
        pairs.query_selector(validation.assign(small_correct=1), held_out)


def _replays(costs_by_seed: dict) -> pd.DataFrame:
    """A replays.csv: per seed and (policy, selector), total cost (seconds; FLOPs = 2x) and served accuracy."""
    rows = []
    for seed, cells in costs_by_seed.items():
        for (policy, selector), (cost, accuracy) in cells.items():
            for unit, scale in (("seconds", 1.0), ("flops", 2.0)):
                rows.append({"policy": policy, "selector": selector, "scenario": "online", "cache_size": 40,
                             "alpha": 0.8, "seed": seed, "unit": unit, "total_cost": cost * scale, "hit_rate": 0.5,
                             "served_accuracy": accuracy, "all_large_cost": 100.0, "requests": 100, "setting": "main"})
    return pd.DataFrame(rows).assign(pair="p")


def test_table_cells_carry_t_intervals_over_seeds_and_ratios_are_paired_per_seed():
    from scipy import stats

    # LFU+large's cost moves a lot between seeds, LEC+answer's ratio to it hardly: pairing per seed sees that.
    replays = _replays({seed: {("lfu", "large"): (base, 0.8), ("lec", "large"): (0.9 * base, 0.8),
                               ("lec", "answer-classifier"): (ratio * base, 0.75)}
                        for seed, (base, ratio) in enumerate([(10, 0.50), (20, 0.52), (40, 0.48)])})
    summary = pair_report.pair_summary(replays).set_index(["policy", "selector"])
    row = summary.loc[("lec", "answer-classifier")]
    ratios = np.array([0.50, 0.52, 0.48])
    half = stats.t.ppf(0.975, 2) * ratios.std(ddof=1) / np.sqrt(3)
    assert row["seconds_over_lfu_large"] == pytest.approx(0.5)
    assert (row["seconds_over_lfu_large_low"], row["seconds_over_lfu_large_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert row["flops_over_lfu_large"] == pytest.approx(0.5) and row["seeds"] == 3
    verdicts = pair_report.selection_verdicts(replays, 40).set_index("setup")
    assert verdicts.loc["LEC+answer-classifier", "seconds_vs_lfu_large"] == "pays"
    assert verdicts.loc["LEC+answer-classifier", "seconds_over_lec_large"] == pytest.approx(0.5 / 0.9)
    assert verdicts.loc["LEC+answer-classifier", "accuracy_minus_lfu_large"] == pytest.approx(-0.05)
    assert verdicts.loc["LEC+answer-classifier", "accuracy_vs_lfu_large"] == "loses accuracy"


def test_a_ratio_whose_interval_straddles_one_is_no_difference():
    replays = _replays({seed: {("lfu", "large"): (10, 0.8), ("lec", "large"): (10, 0.8),
                               ("lec", "query-classifier"): (10 * ratio, 0.8)}
                        for seed, ratio in enumerate([0.8, 1.2, 1.0])})
    verdict = pair_report.selection_verdicts(replays, 40).iloc[0]
    assert verdict["seconds_vs_lfu_large"] == "no difference within the interval"
    assert verdict["accuracy_vs_lfu_large"] == "no accuracy difference within the interval"
    assert pair_report.t_interval([3.0])[0] == 3.0 and np.isnan(pair_report.t_interval([3.0])[1])


def test_a_pair_replays_every_selector_and_reports_intervals(pair, tmp_path):
    small, small_speed, large, large_speed = pair
    out = tmp_path / "pair-result"
    assert main(["cache-pair", "--small-run", str(small), "--small-speeds", *map(str, small_speed),
                 "--large-run", str(large), "--large-speeds", *map(str, large_speed), "--cost-lengths", *map(str, LENGTHS),
                 "--queries", "20", "--requests", "600", "--runs", "2", "--cache-sizes", "0", "10",
                 "--cache-size", "10", "--alphas", "0.8", "--no-progress", "--out", str(out)]) == 0
    per_query = pd.read_csv(out / "per-query.csv")
    for column in ("tokens", "escalate", "keep_small", "pick_small", "answer_selector_seconds", "query_selector_flops"):
        assert column in per_query, column
    selector = json.loads((out / "selector.json").read_text())
    assert selector["large_accuracy"] == 1 and selector["detector"]["threshold"] > 0
    assert set(selector["selectors"]) == {"answer-classifier", "query-classifier"}
    replays = pd.read_csv(out / "replays.csv")
    assert set(pairs.ReplayGrid().selectors) <= set(replays["selector"]) and "oracle" in set(replays["policy"])
    # without a cache every request is served: always-large pays each request's own large cost
    no_cache = replays[(replays.cache_size == 0) & (replays.unit == "seconds") & (replays.policy == "lfu")]
    assert (no_cache.loc[no_cache.selector == "large", "served_accuracy"] == 1).all()
    answer = no_cache[no_cache.selector == "answer-classifier"]
    assert (answer["small_calls"] == 600).all()  # the small model always runs first, and is charged
    query = no_cache[no_cache.selector == "query-classifier"]
    assert (query["small_calls"] + query["large_calls"] == 600).all()  # exactly one model per request
    assert main(["cache-report", "--pairs", str(out), "--tables", str(tmp_path), "--plots", str(tmp_path)]) == 0
    table = (tmp_path / "caching-pairs.md").read_text()
    assert "LEC+cascade-gold" in table and "Does selection pay?" in table and " [" in table
    summary = pd.read_csv(tmp_path / "caching-pairs.csv")
    assert {"seconds_over_lfu_large_low", "served_accuracy_high"} <= set(summary.columns)
    for figure in ("cost-vs-cache-size", "cost-vs-alpha", "accuracy-vs-speedup"):
        assert (tmp_path / f"caching-pair-result-{figure}.svg").stat().st_size > 0


def test_the_workflow_times_each_model_at_every_cost_length_and_passes_them():
    import yaml

    from conftest import ROOT
    from revmux.workflow import caching
    from revmux.workflow.config_errors import check_shape
    from revmux.workflow.multiplexing import ConfigError

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    check_shape(config)
    files = caching.pair_files(config, "revmux-n4-vs-teacher")
    assert files["small_speed"] == [f"results/speed/minilm-l6/revmux-n4-p3-b32-len{n}.json" for n in (16, 32, 64)]
    assert "--cost-lengths 16 32 64" in caching.pair_arguments(config, "revmux-n4-vs-teacher")
    config["caching"]["cost_lengths"] = [16, 32]
    with pytest.raises(ConfigError, match=r"caching.cost_lengths \[16, 32\]: the longest must reach data.max_length \(64\)"):
        caching.check_config(config)


def test_the_schema_and_the_pair_command_share_their_defaults():
    import yaml

    from revmux.core.schemas import schema_path

    block = yaml.safe_load(schema_path("config").read_text())["properties"]["caching"]["properties"]
    assert block["cost_lengths"]["default"] == list(pairs.COST_LENGTHS)
    assert block["pair_seeds"]["default"] == pairs.ReplayGrid().seeds


def test_the_selection_verdict_names_a_win_only_where_cost_and_held_out_accuracy_allow_it():
    from revmux.caching.pair_report import selection_sentences

    def row(alpha, cost, cost_low, cost_high, setup="LEC+query-classifier"):
        side = "pays" if cost_high < 1 else "costs more" if cost_low > 1 else "no difference within the interval"
        return {"pair": "p", "scenario": "online", "alpha": alpha, "setup": setup,
                **{f"{unit}_over_lec_large{end}": value for unit in ("seconds", "flops")
                   for end, value in (("", cost), ("_low", cost_low), ("_high", cost_high))},
                "seconds_vs_lec_large": side, "flops_vs_lec_large": side}

    verdicts = pd.DataFrame([row(0.2, 0.8, 0.7, 0.9), row(0.8, 0.95, 0.85, 1.05), row(0.8, 0.6, 0.5, 0.7, "LEC+small")])
    served = {"query-classifier": {"minus_large": -0.002, "minus_large_low": -0.008, "minus_large_high": 0.004},
              "small": {"minus_large": -0.05, "minus_large_low": -0.07, "minus_large_high": -0.03}}
    selector = {"cost_ratio_seconds": 5.6, "cost_ratio_flops": 6.0, "small_accuracy": 0.62, "large_accuracy": 0.78,
                "served_vs_large": served}
    lines = selection_sentences(verdicts, selector, "p", 40)
    assert "alpha 0.2: 0.80x [0.70, 0.90] in seconds (pays)" in lines[0]
    assert "-0.2 points [-0.8, +0.4] against the large model, within 1 point" in lines[0]
    assert "-5.0 points [-7.0, -3.0] against the large model, more than 1 point below" in lines[1]
    assert lines[-1].endswith("at LEC+query-classifier at alpha 0.2.")  # not at 0.8 (no cost difference), not small
    # The same cost with an accuracy interval reaching 2 points below the large model's: no win.
    served["query-classifier"]["minus_large_low"] = -0.02
    assert selection_sentences(verdicts, selector, "p", 40)[-1].endswith("at no alpha, with either trained selector.")


def test_the_answer_classifier_reads_a_confidence_that_varies_only_in_its_third_decimal():
    from revmux.caching.pairs import answer_selector

    random = np.random.default_rng(0)

    def table(size):
        confidence = 0.566 + 0.002 * random.uniform(size=size)
        right = (random.uniform(size=size) < (confidence - 0.566) / 0.002).astype(int)  # surer: more often right
        return pd.DataFrame({"small_confidence": confidence, "small_prediction": 1, "small_correct": right})

    keep, quality, _ = answer_selector(table(500), table(500))
    assert 0.2 < keep.mean() < 0.8 and quality["balanced_accuracy"] > 0.65
