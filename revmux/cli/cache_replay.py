"""Replay a caching trace (yours: production logs, or one made here) through cache policies and selectors,
and report per pair the total cost, its ratio to LFU + always-large, the hit rate and, where the trace says
which answers are right, the served accuracy (a hit returns the answer of whichever model produced it).

The trace is a CSV with columns request, query, cost_small, cost_large and optionally small_correct,
large_correct, size, selector_cost, escalate, keep_small, pick_small (format: revmux/caching/traces.py).

example:
  python -m revmux cache-replay --trace logs.csv --policies lfu lec gdsf lru --selectors large cascade \\
      --scenario online --cache-size 40 --out replay.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "replay a caching trace through cache policies and selectors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", type=Path, required=True, help="the trace CSV")
    parser.add_argument("--policies", nargs="+", default=["lfu", "lec", "gdsf", "lru"],
                        help="cache policies: lfu, lec, gdsf, lru, oracle (default: lfu lec gdsf lru)")
    parser.add_argument("--selectors", nargs="+", default=["large", "cascade"],
                        help="selectors: large, cascade (its detector: the escalate column), cascade-gold (a detector "
                             "that knows the labels: a bound), simulated (needs --selector-accuracy), bandit (online), "
                             "answer-classifier (keep_small column), query-classifier (pick_small column) "
                             "(default: large cascade)")
    parser.add_argument("--scenario", choices=["offline", "online"], default="online",
                        help="offline: cache filled once from the whole trace's statistics; online: learned as it goes (default)")
    parser.add_argument("--cache-size", type=float, default=40, help="in the unit of the size column; entries by default (default 40)")
    parser.add_argument("--selector-accuracy", type=float, default=None, help="for the simulated selector, in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="the simulated selector's and the bandit's draws (default 0)")
    parser.add_argument("--mode", choices=["strict", "artifact"], default="strict",
                        help="strict (default): every route charged for what ran, the bandit learns only from what "
                             "it ran; artifact: Zhu et al.'s code's accounting (full-information bandit, a failed "
                             "cascade charged the large model twice, offline LEC weighing by a perfect selector), "
                             "for comparing with their published tables")
    parser.add_argument("--out", type=Path, required=True, help="one row per policy and selector (CSV)")


def run(args: argparse.Namespace) -> int:
    from revmux.caching.replay import replay, setups_for
    from revmux.caching.traces import read_trace
    from revmux.core.atomic import atomic_write_text

    trace = read_trace(args.trace)
    setups = setups_for(trace, args.policies, args.selectors, args.scenario, args.cache_size, args.selector_accuracy,
                        args.mode)
    table = replay(trace, setups, args.seed)
    atomic_write_text(args.out, table.to_csv(index=False))
    print(table.to_markdown(index=False, floatfmt=".4g"))
    return 0
