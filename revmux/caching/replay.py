"""Replay one trace through several cache policies and selectors: one row each, with the ratio to the
paper's baseline, LFU + always large (replayed too when it was not asked for)."""

from __future__ import annotations

import itertools

import pandas as pd

from revmux.caching.simulate import Setup, check_setup, simulate
from revmux.caching.traces import Trace

BASELINE = ("lfu", "large")


def replay(trace: Trace, policies: list[str], selectors: list[str], scenario: str, cache_size: float,
           selector_accuracy: float | None = None, seed: int = 0) -> pd.DataFrame:
    # Every pair is checked before the first simulation: a bad name fails at once, not after the others ran.
    setups = [check_setup(Setup(policy, selector, scenario, cache_size, selector_accuracy), trace)
              for policy, selector in itertools.product(policies, selectors)]
    baseline = check_setup(Setup(*BASELINE, scenario, cache_size), trace)
    rows = []
    for setup in dict.fromkeys([*setups, baseline]):
        outcome = simulate(trace, setup, seed)
        rows.append({"policy": setup.policy, "selector": setup.selector, "scenario": scenario,
                     "cache_size": cache_size, "selector_accuracy": setup.selector_accuracy,
                     "requests": trace.requests, "queries": trace.queries, **outcome.as_dict()})
    table = pd.DataFrame(rows)
    base_cost = table.loc[(table["policy"] == BASELINE[0]) & (table["selector"] == BASELINE[1]), "total_cost"].iloc[0]
    table["cost_over_lfu_large"] = table["total_cost"] / base_cost
    return table
