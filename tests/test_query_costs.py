"""Per-query costs of a caching pair's models: tokens under the model's own tokenizer, FLOPs counted at that
length by the speed profile's own counter, measured seconds at the query's length bucket."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from revmux.caching import query_costs
from revmux.core.errors import RevmuxError

QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)


def _settings(**changes) -> dict:
    """What a profile's "settings" hold: stories260K, RevMUX N = 2 against its teacher, 4 x 16 tokens."""
    from revmux.multiplexing.config import SpeedSettings

    return {**dataclasses.asdict(SpeedSettings("stories260k", "revmux", 2, 2, batch_size=4, length=16, **QUICK)),
            "threads": 1, **changes}


@pytest.fixture
def tiny_profile():
    """A `revmux speed` result's keys, with made-up timings."""
    return {"settings": _settings(), "backbone": {"name": "stories260k"}, "flops_per_sample": {},
            "latency": {"teacher": {"samples_per_s": 100.0}, "multiplexed": {"samples_per_s": 200.0}},
            "validity": {"valid": True, "reasons": []}}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["teacher", "multiplexed"])
def test_flops_counted_at_a_profiles_own_length_are_the_profiles_flops_per_sample(path):
    from revmux.backbones import resolve_backbone
    from revmux.multiplexing.config import SpeedSettings
    from revmux.multiplexing.speed import profile

    measured = profile(SpeedSettings("stories260k", "revmux", 2, 2, batch_size=4, length=16, **QUICK),
                       resolve_backbone("stories260k"))
    counted = query_costs.flops_at_lengths(measured, path, [16, 9])
    assert counted[16] == pytest.approx(measured["flops_per_sample"][path])
    # fewer tokens, fewer FLOPs: a query is charged its own length, not the profile's
    assert 0 < counted[9] < counted[16]


def test_flops_per_sample_do_not_depend_on_the_batch_they_are_counted_on():
    from revmux.backbones import resolve_backbone
    from revmux.measure.flops import count_flops
    from revmux.multiplexing.config import SpeedSettings
    from revmux.multiplexing.speed import build_workloads

    settings = SpeedSettings("stories260k", "revmux", 2, 2, batch_size=8, length=12)
    workloads = build_workloads(settings, resolve_backbone("stories260k"))[4]  # as `revmux speed` counts them
    counted = query_costs.flops_at_lengths({"settings": _settings()}, "multiplexed", [12, 5])
    assert counted[12] == pytest.approx(count_flops(workloads["multiplexed"]) / 8)
    assert 0 < counted[5] < counted[12]


def test_a_query_is_charged_the_seconds_of_the_smallest_profiled_length_that_holds_it():
    lengths = [16, 32, 64]
    assert query_costs.buckets(np.array([3, 16, 17, 32, 33, 64]), lengths, "m").tolist() == [16, 16, 32, 32, 64, 64]
    with pytest.raises(RevmuxError, match="beyond the longest profiled length 64; add a cost length"):
        query_costs.buckets(np.array([65]), lengths, "m")


def _profile_file(folder, tiny_profile, length, samples_per_s, **changes):
    import json

    settings = {**tiny_profile["settings"], "length": length, **changes}
    path = folder / f"len{length}-{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps({**tiny_profile, "settings": settings,
                                "latency": {"teacher": {"samples_per_s": samples_per_s},
                                            "multiplexed": {"samples_per_s": 2 * samples_per_s}}}))
    return path


def test_profiles_are_keyed_by_length_and_a_missing_cost_length_names_the_fix(tmp_path, tiny_profile):
    paths = [_profile_file(tmp_path, tiny_profile, length, 100.0 / length) for length in (16, 32)]
    profiles = query_costs.profiles_by_length(paths, [16, 32], "small")
    assert list(profiles) == [16, 32]
    assert query_costs.seconds_per_sample(profiles, "teacher") == pytest.approx({16: 0.16, 32: 0.32})
    with pytest.raises(RevmuxError, match=r"small: no speed profile at cost length 64 \(profiled: 16, 32\).*"
                                          "caching.cost_lengths"):
        query_costs.profiles_by_length(paths, [16, 32, 64], "small")
    other = _profile_file(tmp_path, tiny_profile, 64, 1.0, batch_size=8)
    with pytest.raises(RevmuxError, match="time different models or batch sizes"):
        query_costs.profiles_by_length([*paths, other], [16], "small")
    with pytest.raises(RevmuxError, match="two speed profiles time length 16"):
        query_costs.profiles_by_length([*paths, _profile_file(tmp_path, tiny_profile, 16, 1.0)], [16], "small")


def test_a_query_costs_its_own_tokens_flops_and_bucket_seconds(tmp_path, tiny_profile, glue_dir):
    from revmux.backbones.load import load_tokenizer

    run = query_costs.RunData(tmp_path, "sst-2", "stories260k",
                              {"task": "sst-2", "source": "local", "glue_dir": str(glue_dir), "max_length": 24,
                               "validation_size": 20, "eval_size": 30})
    from revmux.multiplexing.config import DataConfig
    from revmux.multiplexing.inputs import load_run_splits

    splits, _ = load_run_splits(DataConfig(**run.data))
    examples = pd.Index(splits["eval"]["idx"].to_numpy()[::-1])  # any order: rows follow the predictions' ids
    texts = query_costs.query_texts(run, "eval", examples)
    assert texts.index.equals(examples)
    profiles = query_costs.profiles_by_length([_profile_file(tmp_path, tiny_profile, length, 1000.0 / length)
                                               for length in (16, 24)], [16, 24], "m")
    costs = query_costs.query_costs(run, texts, "teacher", profiles, "m")
    tokenizer = load_tokenizer("stories260k")
    prompts = [f"Review: {text}\nIs this review negative or positive? Answer:" for text in texts["text_a"]]
    expected = [min(len(ids), 24) for ids in tokenizer(prompts)["input_ids"]]
    assert costs["tokens"].tolist() == expected
    assert (costs["seconds"] == np.where(costs["tokens"] <= 16, 0.016, 1 / (1000 / 24))).all()
    by_tokens = costs.groupby("tokens")["flops"]
    assert (by_tokens.nunique() == 1).all() and by_tokens.first().is_monotonic_increasing
    with pytest.raises(RevmuxError, match="name 1 examples .* that its data settings do not produce"):
        query_costs.query_texts(run, "eval", pd.Index([10 ** 9]))


def test_a_run_without_a_finished_evaluation_says_which_job_to_run(tmp_path):
    with pytest.raises(RevmuxError, match="run its evaluate job"):
        query_costs.RunData.of(tmp_path)


