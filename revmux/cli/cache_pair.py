"""A small and a large model of this harness as a caching pair, replayed through every cache policy and
selector. Per held-out query: each model's correctness (its evaluation's predictions, first regrouping) and
its own cost (its token count under the model's tokenizer; FLOPs counted at that length; measured seconds per
sample at the smallest profiled length that holds it, so each model needs speed profiles at every
--cost-lengths); three selectors fitted on the validation split (a confidence-threshold failure detector for
the cascade, a classifier on the small model's answer, a classifier on the query's text alone), each with its
measured cost per query; then power-law traces over a seeded sample of distinct held-out queries (Zhu et
al.'s real-data setting), every policy x selector, costed in seconds and in FLOPs.

Writes OUT/per-query.csv, OUT/selector.json and OUT/replays.csv.

example:
  python -m revmux cache-pair \\
      --small-run results/rt-polarity/minilm-l6/revmux-n4-p3-s0 \\
      --small-speeds results/speed/minilm-l6/revmux-n4-p3-b32-len{16,32,64}.json \\
      --large-run results/rt-polarity/minilm-l6/identity-n1-p3-s0 \\
      --large-speeds results/speed/minilm-l6/revmux-n4-p3-b32-len{16,32,64}.json \\
      --cost-lengths 16 32 64 --out results/caching/pairs/revmux-n4-vs-teacher
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from revmux.caching.pairs import COST_LENGTHS, SELECTOR_THRESHOLD, ReplayGrid

HELP = "replay a small/large model pair of this harness through the caches"
DEFAULTS = ReplayGrid()
# The grid's `seeds` is a count of seeded traces (seeds 0 .. N-1): `--runs N`, as in cache-suite, since `--seed`
# names one seed in every other verb.
FLAGS = {field.name: "runs" if field.name == "seeds" else field.name.replace("_", "-") for field in fields(ReplayGrid)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for size in ("small", "large"):
        parser.add_argument(f"--{size}-run", type=Path, required=True,
                            help=f"the {size} model's evaluated run folder (identity = the teacher)")
        parser.add_argument(f"--{size}-speeds", type=Path, nargs="+", required=True, metavar="PROFILE",
                            help=f"speed profiles that timed the {size} model, one per cost length")
    parser.add_argument("--cost-lengths", type=int, nargs="+", default=list(COST_LENGTHS), metavar="TOKENS",
                        help="the length buckets a query's seconds are charged at (each model needs a profile at "
                             f"each; default {' '.join(map(str, COST_LENGTHS))})")
    parser.add_argument("--selector-threshold", type=float, default=SELECTOR_THRESHOLD,
                        help=f"the trained selectors choose the small model when P(small is right) >= this "
                             f"(default {SELECTOR_THRESHOLD})")
    for field in fields(ReplayGrid):
        default = getattr(DEFAULTS, field.name)
        kind = type(default[0]) if isinstance(default, tuple) else type(default)
        parser.add_argument(f"--{FLAGS[field.name]}", dest=field.name, metavar=FLAGS[field.name].upper().replace("-", "_"),
                            type=kind, default=default,
                            nargs="+" if isinstance(default, tuple) else None,
                            help=f"default {' '.join(map(str, default)) if isinstance(default, tuple) else default}"
                                 + (" (seeded traces per setting: seeds 0 .. RUNS-1)" if field.name == "seeds" else ""))
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--out", type=Path, required=True, help="the pair's folder")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from revmux.caching import pairs
    from revmux.caching.simulate import Setup, check_setup
    from revmux.core.atomic import atomic_directory, atomic_write_json
    from revmux.core.errors import RevmuxError

    grid = ReplayGrid(**{field.name: tuple(getattr(args, field.name)) if isinstance(getattr(DEFAULTS, field.name), tuple)
                         else getattr(args, field.name) for field in fields(ReplayGrid)})
    for name in ("queries", "requests", "seeds"):
        if getattr(grid, name) < 1:
            raise RevmuxError(f"--{FLAGS[name]} {getattr(grid, name)} must be at least 1")
    if min(args.cost_lengths) < 2:
        raise RevmuxError(f"--cost-lengths {' '.join(map(str, args.cost_lengths))}: a length is at least 2 tokens")
    for size in (grid.cache_size, *grid.cache_sizes):
        check_setup(Setup("lfu", "large", "online", size))
    for policy in grid.policies:  # the oracle is replayed with a selector that is always right, as replay_pair does
        oracle = policy == "oracle"
        check_setup(Setup(policy, "simulated" if oracle else "large", "online", 0, 1.0 if oracle else None))
    for selector in grid.selectors:
        check_setup(Setup("lfu", selector, "online", 0, 1.0 if selector == "simulated" else None))
    small, large = pairs.model_of(args.small_run, args.small_speeds), pairs.model_of(args.large_run, args.large_speeds)
    timings = {model: pairs.timing(model, args.cost_lengths) for model in (small, large)}
    validation = pairs.per_query(small, large, "validation", args.cost_lengths)
    held_out = pairs.per_query(small, large, "eval", args.cost_lengths)
    escalate, detector = pairs.confidence_detector(validation, held_out)
    keep_small, answer, answer_flops = pairs.answer_selector(validation, held_out, args.selector_threshold)
    pick_small, query, query_flops = pairs.query_selector(validation, held_out, args.selector_threshold)
    held_out = held_out.assign(
        escalate=escalate.astype(int), keep_small=keep_small.astype(int), pick_small=pick_small.astype(int),
        answer_selector_seconds=answer["cost_seconds"], answer_selector_flops=answer_flops,
        query_selector_seconds=query["cost_seconds"], query_selector_flops=query_flops)
    replays = pairs.replay_pair(held_out, grid, args.progress)
    # both models may be timed in one profile: name each invalid profile once
    invalid = list(dict.fromkeys(line for model in (small, large) for line in timings[model]["invalid"]))
    summary = {
        "small": small.label, "large": large.label,
        "small_speed": [str(path) for path in small.speeds], "large_speed": [str(path) for path in large.speeds],
        "cost_lengths": sorted(args.cost_lengths),
        "timing_profiles_valid": not invalid, "invalid_timing_profiles": invalid,
        "small_accuracy": float(held_out["small_correct"].mean()),
        "large_accuracy": float(held_out["large_correct"].mean()),
        "validation_small_accuracy": float(validation["small_correct"].mean()),
        "validation_large_accuracy": float(validation["large_correct"].mean()),
        # ratio of the mean per-query costs over the held-out split
        "cost_ratio_seconds": float(held_out["cost_large_s"].mean() / held_out["cost_small_s"].mean()),
        "cost_ratio_flops": float(held_out["cost_large_flops"].mean() / held_out["cost_small_flops"].mean()),
        "per_query_cost_spread": {column: pairs.spread(held_out[column]) for column in
                                  ("tokens", "tokens_large", "cost_small_s", "cost_large_s", "cost_small_flops", "cost_large_flops")},
        "detector": detector, "selectors": {"answer-classifier": answer, "query-classifier": query},
        # Each route's served accuracy without a cache, minus the large model's, query by query over the whole
        # held-out split: the verdicts judge accuracy here, where a trace repeats a few queries many times.
        "served_vs_large": {
            name: pairs.served_difference(np.where(small_answer, held_out["small_correct"], held_out["large_correct"]),
                                          held_out["large_correct"])
            for name, small_answer in (("small", np.ones(len(held_out), bool)), ("cascade", ~escalate),
                                       ("answer-classifier", keep_small), ("query-classifier", pick_small))},
        # A small model that gives one answer to every query has nothing for a selector to read.
        "small_answers_one_class": bool(held_out["small_prediction"].nunique() == 1),
    }
    with atomic_directory(args.out) as scratch:
        held_out.to_csv(scratch / "per-query.csv", index=False)
        replays.to_csv(scratch / "replays.csv", index=False)
        atomic_write_json(scratch / "selector.json", summary)
    for line in invalid:
        print(f"warning: timing profile marked invalid, its seconds are used and marked so: {line}")
    if summary["small_answers_one_class"]:
        print(f"warning: the small model ({small.label}) gives the same answer to every held-out query: it has not "
              "learned the task, and its pair says nothing about routing; train it further")
    print(f"accuracy small {summary['small_accuracy']:.3f}, large {summary['large_accuracy']:.3f}; cost ratio "
          f"{summary['cost_ratio_seconds']:.2f}x seconds, {summary['cost_ratio_flops']:.2f}x FLOPs; selectors "
          f"(balanced accuracy): answer {answer['balanced_accuracy']:.3f}, query {query['balanced_accuracy']:.3f}; "
          f"detector threshold {detector['threshold']:.3f}; {len(replays)} replays -> {args.out}")
    return 0
