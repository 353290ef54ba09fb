"""A small and a large model of this harness as a caching pair, replayed through every cache policy and
selector: per held-out query each model's correctness (its evaluation's predictions, first regrouping) and
cost (seconds per sample at its profiled batch, and counted FLOPs per sample: its speed profile); a
selector trained on the validation split to predict "the small model is right" from the small model's
answer and confidence; then power-law traces over a seeded sample of distinct held-out queries (Zhu et
al.'s real-data setting), every policy x selector, costed in seconds and in FLOPs.

Writes OUT/per-query.csv, OUT/selector.json and OUT/replays.csv.

example:
  python -m revmux cache-pair \\
      --small-run results/rt-polarity/minilm-l6/revmux-n4-p3-s0 --small-speed results/speed/minilm-l6/revmux-n4-p3-b32-len64.json \\
      --large-run results/rt-polarity/minilm-l6/identity-n1-p3-s0 --large-speed results/speed/minilm-l6/revmux-n4-p3-b32-len64.json \\
      --out results/caching/pairs/revmux-n4-vs-teacher
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from revmux.caching.pairs import SELECTOR_THRESHOLD, ReplayGrid

HELP = "replay a small/large model pair of this harness through the caches"
DEFAULTS = ReplayGrid()
# The grid's `seeds` is a count of seeded traces (seeds 0 .. N-1): `--runs N`, as in cache-suite, since `--seed`
# names one seed in every other verb.
FLAGS = {field.name: "runs" if field.name == "seeds" else field.name.replace("_", "-") for field in fields(ReplayGrid)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for size in ("small", "large"):
        parser.add_argument(f"--{size}-run", type=Path, required=True,
                            help=f"the {size} model's evaluated run folder (identity = the teacher)")
        parser.add_argument(f"--{size}-speed", type=Path, required=True, help=f"a speed profile that timed the {size} model")
    parser.add_argument("--selector-threshold", type=float, default=SELECTOR_THRESHOLD,
                        help=f"send a query to the small model when P(small is right) >= this (default {SELECTOR_THRESHOLD})")
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
    from revmux.caching.pairs import model_of, per_query, replay_pair, timing, train_selector
    from revmux.caching.simulate import Setup, check_setup
    from revmux.core.atomic import atomic_directory, atomic_write_json
    from revmux.core.errors import RevmuxError

    grid = ReplayGrid(**{field.name: tuple(getattr(args, field.name)) if isinstance(getattr(DEFAULTS, field.name), tuple)
                         else getattr(args, field.name) for field in fields(ReplayGrid)})
    for name in ("queries", "requests", "seeds"):
        if getattr(grid, name) < 1:
            raise RevmuxError(f"--{FLAGS[name]} {getattr(grid, name)} must be at least 1")
    for size in (grid.cache_size, *grid.cache_sizes):
        check_setup(Setup("lfu", "large", "online", size))
    for policy in grid.policies:
        check_setup(Setup(policy, "large", "online", 0))
    for selector in grid.selectors:
        check_setup(Setup("lfu", selector, "online", 0, 1.0 if selector == "simulated" else None))
    small, large = model_of(args.small_run, args.small_speed), model_of(args.large_run, args.large_speed)
    validation, held_out = per_query(small, large, "validation"), per_query(small, large, "eval")
    small_first, summary = train_selector(validation, held_out, args.selector_threshold)
    held_out = held_out.assign(small_first=small_first.astype(int))
    replays = replay_pair(held_out, grid, args.progress)
    invalid = [f"{model.speed}: {timing(model)['invalid_reasons']}" for model in (small, large) if not timing(model)["valid"]]
    summary.update(small=small.label, large=large.label, small_speed=str(small.speed), large_speed=str(large.speed),
                   timing_profiles_valid=not invalid, invalid_timing_profiles=invalid,
                   small_accuracy=float(held_out["small_correct"].mean()),
                   large_accuracy=float(held_out["large_correct"].mean()),
                   cost_ratio_seconds=float(held_out["cost_large_s"].iloc[0] / held_out["cost_small_s"].iloc[0]),
                   cost_ratio_flops=float(held_out["cost_large_flops"].iloc[0] / held_out["cost_small_flops"].iloc[0]))
    with atomic_directory(args.out) as scratch:
        held_out.to_csv(scratch / "per-query.csv", index=False)
        replays.to_csv(scratch / "replays.csv", index=False)
        atomic_write_json(scratch / "selector.json", summary)
    for line in invalid:
        print(f"warning: timing profile marked invalid, its seconds are used and marked so: {line}")
    print(f"selector accuracy {summary['accuracy']:.3f} (always-small {summary['always_small_accuracy']:.3f}); "
          f"{len(replays)} replays -> {args.out}")
    return 0
