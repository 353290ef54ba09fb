"""Replay one trace through several cache policies and selectors: one row each, with the ratio to the
paper's baseline, LFU + always large (replayed too when it was not asked for)."""

from __future__ import annotations

import itertools

import pandas as pd

from revmux.caching.simulate import Setup, check_setup, simulate
from revmux.caching.traces import Trace

BASELINE = ("lfu", "large")


def setups_for(trace: Trace, policies: list[str], selectors: list[str], scenario: str, cache_size: float,
               selector_accuracy: float | None = None, mode: str = "strict") -> list[Setup]:
    """Every policy x selector, each checked before the first simulation: a bad name fails at once, not
    after the others ran."""
    return [check_setup(Setup(policy, selector, scenario, cache_size, selector_accuracy, mode), trace)
            for policy, selector in itertools.product(policies, selectors)]


def replay(trace: Trace, setups: list[Setup], seed: int = 0) -> pd.DataFrame:
    """One row per setup, plus the baseline of each scenario and cache size when it was not among them."""
    baselines = [check_setup(Setup(*BASELINE, setup.scenario, setup.cache_size, mode=setup.mode), trace)
                 for setup in setups]
    rows = []
    for setup in dict.fromkeys([*setups, *baselines]):
        outcome = simulate(trace, setup, seed)
        rows.append({"policy": setup.policy, "selector": setup.selector, "scenario": setup.scenario,
                     "cache_size": setup.cache_size, "selector_accuracy": setup.selector_accuracy, "mode": setup.mode,
                     "requests": trace.requests, "queries": trace.queries, **outcome.as_dict()})
    table = pd.DataFrame(rows)
    is_baseline = (table["policy"] == BASELINE[0]) & (table["selector"] == BASELINE[1])
    keys = ["scenario", "cache_size", "mode"]
    base_cost = table[is_baseline].set_index(keys)["total_cost"]
    table["cost_over_lfu_large"] = table["total_cost"] / base_cost.loc[list(zip(*(table[key] for key in keys)))].to_numpy()
    return table
