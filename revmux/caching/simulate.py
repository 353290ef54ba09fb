"""Replay a trace through a cache and a selector: the total cost, the hit rate and the served accuracy.

Offline (Zhu et al.'s offline setting): the query frequencies and mean costs of the whole trace are known
and the cache is filled once, before the first request. Online: nothing is known; every request counts
toward its query's frequency, and after each miss the selector and the cache update from the costs that
the models which ran revealed. A hit costs nothing and returns the cached answer: whichever route produced
it (offline: the selector's route for the query's first request; online: the miss that inserted it).
What every request cost is settled by revmux/caching/accounting.py, whichever path served the trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from revmux.caching.accounting import HIT, Outcome, settle
from revmux.caching.policies import POLICIES
from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import MODES
from revmux.caching.traces import Trace
from revmux.core.errors import RevmuxError

SCENARIOS = ("offline", "online")


@dataclass(frozen=True)
class Setup:
    policy: str
    selector: str
    scenario: str
    cache_size: float
    selector_accuracy: float | None = None
    mode: str = "strict"  # "artifact": the authors' accounting, for the published-table comparison only


def check_setup(setup: Setup, trace: Trace | None = None) -> Setup:
    """Every problem with the settings, named with its fix, before any simulation."""
    policy = POLICIES.canonical(setup.policy)
    selector = SELECTORS.canonical(setup.selector)
    if setup.scenario not in SCENARIOS:
        raise RevmuxError(f"unknown scenario {setup.scenario!r}: use one of {', '.join(SCENARIOS)}")
    if setup.mode not in MODES:
        raise RevmuxError(f"unknown accounting mode {setup.mode!r}: use one of {', '.join(MODES)}")
    traits, chooses = POLICIES.traits(policy), SELECTORS.traits(selector)
    if setup.scenario == "offline" and not traits["static"]:
        raise RevmuxError(f"cache policy {policy!r} has no offline (filled-once) form: run it with scenario online")
    if setup.scenario == "online" and not (traits["dynamic"] or traits["hindsight"]):
        raise RevmuxError(f"cache policy {policy!r} does not learn online: run it with scenario offline")
    if traits["hindsight"]:  # the best static cache is defined with the perfect selector, whatever was named
        if selector not in ("perfect", "simulated") or (selector == "simulated" and setup.selector_accuracy != 1):
            raise RevmuxError(f"cache policy {policy!r} is the best static cache with a perfect selector: pair it "
                              "with selector perfect")
        selector, chooses = "perfect", SELECTORS.traits("perfect")
    if chooses["learns"] and (setup.scenario == "offline" or traits["hindsight"]):
        raise RevmuxError(f"selector {selector!r} learns online; with a cache filled once ({policy}, "
                          f"{setup.scenario}) use the simulated selector")
    if not np.isfinite(setup.cache_size) or setup.cache_size < 0:
        raise RevmuxError(f"cache size {setup.cache_size} must be a number >= 0")
    if chooses["needs_accuracy"] and setup.selector_accuracy is None:
        raise RevmuxError(f"selector {selector!r} needs its accuracy (--selector-accuracy, in [0, 1])")
    if setup.selector_accuracy is not None and not 0 <= setup.selector_accuracy <= 1:
        raise RevmuxError(f"selector accuracy {setup.selector_accuracy} must be in [0, 1]")
    if trace is not None:
        column = chooses["needs_column"]
        if column and getattr(trace, column) is None:
            raise RevmuxError(f"selector {selector!r} needs the trace's {column} column (format: revmux/caching/traces.py)")
        SELECTORS.get(selector)(setup.selector_accuracy, setup.mode).table(trace)  # the detector's column
    return Setup(policy, selector, setup.scenario, setup.cache_size,
                 setup.selector_accuracy if chooses["needs_accuracy"] else None, setup.mode)


def per_query_mean(trace: Trace, values: np.ndarray) -> np.ndarray:
    counts = np.bincount(trace.query, minlength=trace.queries)
    return np.bincount(trace.query, weights=values, minlength=trace.queries) / np.maximum(counts, 1)


def simulate(trace: Trace, setup: Setup, seed: int = 0, one_by_one: bool = False) -> Outcome:
    """`one_by_one`: serve a static cache request by request too (the slow path, for comparing the two)."""
    setup = check_setup(setup, trace)
    policy = POLICIES.get(setup.policy)(setup.cache_size, trace.size)
    selector = SELECTORS.get(setup.selector)(setup.selector_accuracy, setup.mode)
    table = selector.table(trace)
    # The selector's draws: the artifact reseeds numpy with the run's seed before serving.
    random = np.random.RandomState(seed)
    if not (setup.scenario == "offline" or POLICIES.traits(setup.policy)["hindsight"]):
        return _online(trace, policy, selector, table, random)

    counts = np.bincount(trace.query, minlength=trace.queries)
    expected = per_query_mean(trace, selector.expected_cost(trace, table))
    note = policy.fill(counts, expected)
    cached = np.array(policy.entries, dtype=int)
    cached_correct = np.full(trace.queries, np.nan)
    if len(cached):  # each cached answer: the route the selector takes for the query's first request
        first = np.unique(trace.query, return_index=True)[1][cached]
        routes = selector.routes(first, trace, table, np.random.RandomState([seed, 1]))  # a stream of its own
        cached_correct[cached] = table.correct[routes, first]
    miss = ~np.isin(trace.query, cached)
    routes = np.full(trace.requests, HIT)
    if one_by_one:
        missed = [request for request, query in enumerate(trace.query.tolist()) if query not in policy]
        routes[missed] = selector.routes(np.array(missed, dtype=int), trace, table, random)
    else:  # which requests miss is known up front, so they are routed in one call
        routes[miss] = selector.routes(np.flatnonzero(miss), trace, table, random)
    return settle(table, trace, routes, cached_correct[trace.query], note)


def _online(trace: Trace, policy, selector, table, random) -> Outcome:
    """Request by request. Python lists throughout: the loop reads one element at a time, which numpy
    arrays make slow."""
    queries = trace.query.tolist()
    counts = [0] * trace.queries
    cost, correct = table.cost_list, table.correct_list
    learns = selector.learns
    if learns:
        selector.start(trace, table, random)
        expected, serve = selector.expected, selector.serve
    else:  # what the selector in use cost on each query so far: LEC's and GDSF's estimate
        expected, spent, served = [math.nan] * trace.queries, [0.0] * trace.queries, [0] * trace.queries
        fixed_routes = selector.routes(np.arange(trace.requests), trace, table, random).tolist()
    policy.start(counts, expected)
    cached, on_miss = policy.cached, policy.on_miss
    on_hit = policy.on_hit if policy.tracks_hits else None
    answer = [math.nan] * trace.queries  # whether each cached answer is right
    routes, hit_correct = [HIT] * trace.requests, [math.nan] * trace.requests
    for request, query in enumerate(queries):
        counts[query] += 1
        if query in cached:
            hit_correct[request] = answer[query]
            if on_hit is not None:
                on_hit(query)
            continue
        if learns:
            route = serve(query, request)
        else:
            route = fixed_routes[request]
            spent[query] += cost[route][request]
            served[query] += 1
            expected[query] = spent[query] / served[query]
        routes[request] = route
        if on_miss(query):
            answer[query] = correct[route][request]
    return settle(table, trace, np.array(routes), np.array(hit_correct))
