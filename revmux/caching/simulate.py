"""Replay a trace through a cache and a selector: the total cost, the hit rate and the served accuracy.

Offline (Zhu et al.'s offline setting): the query frequencies and mean costs of the whole trace are known
and the cache is filled once, before the first request. Online: nothing is known; every request counts
toward its query's frequency, and after each miss the selector and the cache update from the costs that
the models which ran revealed. A hit costs nothing and returns the cached answer: whichever model produced
it (offline: the selector's route for the query's first request; online: the miss that inserted it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import View
from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, LARGE, SMALL, Means
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


@dataclass(frozen=True)
class Outcome:
    total_cost: float
    requests: int
    hits: int
    large_calls: int  # misses on which the large model ran
    small_calls: int
    served_correct: float  # NaN when the trace is not judged

    @property
    def hit_rate(self) -> float:
        return self.hits / self.requests

    @property
    def served_accuracy(self) -> float:
        return self.served_correct / self.requests

    def as_dict(self) -> dict:
        return {**asdict(self), "hit_rate": self.hit_rate, "served_accuracy": self.served_accuracy}


def check_setup(setup: Setup, trace: Trace | None = None) -> Setup:
    """Every problem with the settings, named with its fix, before any simulation."""
    policy = POLICIES.canonical(setup.policy)
    selector = SELECTORS.canonical(setup.selector)
    if setup.scenario not in SCENARIOS:
        raise RevmuxError(f"unknown scenario {setup.scenario!r}: use one of {', '.join(SCENARIOS)}")
    traits = POLICIES.traits(policy)
    if setup.scenario == "offline" and not traits["static"]:
        raise RevmuxError(f"cache policy {policy!r} has no offline (filled-once) form: run it with scenario online")
    if setup.scenario == "online" and not (traits["dynamic"] or traits["hindsight"]):
        raise RevmuxError(f"cache policy {policy!r} does not learn online: run it with scenario offline")
    if not np.isfinite(setup.cache_size) or setup.cache_size < 0:
        raise RevmuxError(f"cache size {setup.cache_size} must be a number >= 0")
    needs_accuracy = SELECTORS.traits(selector)["needs_accuracy"]
    if needs_accuracy and setup.selector_accuracy is None:
        raise RevmuxError(f"selector {selector!r} needs its accuracy (--selector-accuracy, in [0, 1])")
    if setup.selector_accuracy is not None and not 0 <= setup.selector_accuracy <= 1:
        raise RevmuxError(f"selector accuracy {setup.selector_accuracy} must be in [0, 1]")
    if trace is not None and SELECTORS.traits(selector)["needs_judged"] and trace.small_first is None:
        raise RevmuxError(f"selector {selector!r} needs the trace's small_first column (the trained selector's "
                          "decision per request)")
    return Setup(policy, selector, setup.scenario, setup.cache_size,
                 setup.selector_accuracy if needs_accuracy else None)


def truth(trace: Trace) -> Means:
    """Per-query mean costs over the whole trace."""
    counts = np.bincount(trace.query, minlength=trace.queries)

    def mean(values):
        return np.bincount(trace.query, weights=values, minlength=trace.queries) / np.maximum(counts, 1)

    return Means(mean(trace.cost_small), mean(trace.cost_large), mean(trace.cost_cascade), mean(trace.cost_oracle))


class Estimates:
    """Running per-query means of the costs the models that ran revealed (the artifact's regression oracle),
    kept as a `Means` updated in place."""

    def __init__(self, queries: int):
        self.sums = [[0.0] * queries for _ in range(3)]  # small, large, cascade
        self.seen = [[0] * queries for _ in range(3)]
        self.means = Means(*(np.full(queries, np.nan) for _ in range(4)))

    def observe(self, query: int, small: float | None, large: float | None, cascade: float | None) -> None:
        rows = (self.means.small, self.means.large, self.means.cascade)
        for row, value in enumerate((small, large, cascade)):
            if value is not None:
                self.sums[row][query] += value
                self.seen[row][query] += 1
                rows[row][query] = self.sums[row][query] / self.seen[row][query]
        self.means.oracle[query] = np.fmin(self.means.cascade[query], self.means.large[query])


def simulate(trace: Trace, setup: Setup, seed: int = 0) -> Outcome:
    setup = check_setup(setup, trace)
    policy = POLICIES.get(setup.policy)(setup.cache_size, trace.size)
    selector = SELECTORS.get(setup.selector)(setup.selector_accuracy)
    selector.prepare(trace)
    # The selector's draws: the artifact reseeds numpy with the run's seed before serving.
    random = np.random.RandomState(seed)
    fill_random = np.random.RandomState([seed, 1])  # the offline fill's answers: a stream of their own
    route_cost = np.stack([trace.cost_large, trace.cost_cascade, trace.cost_small])
    route_correct = np.stack([trace.large_correct, trace.correct_cascade, trace.small_correct])
    known = truth(trace)
    counts = np.bincount(trace.query, minlength=trace.queries)
    cached_correct = np.full(trace.queries, np.nan)  # the correctness of each cached answer

    static_cache = setup.scenario == "offline" or POLICIES.traits(setup.policy)["hindsight"]
    if static_cache:
        view = View(counts, lambda query: selector.expected_cost(query, known), trace.size, known.oracle)
        policy.fill(view)
        first = np.unique(trace.query, return_index=True)[1]
        filled = np.array(policy.entries, dtype=int)
        if len(filled):
            answers = selector.routes(first[filled], trace, known, fill_random) if not selector.learns else CASCADE
            cached_correct[filled] = route_correct[answers, first[filled]]

    if static_cache and not selector.learns:
        # A static cache: which requests miss is known up front, so they are served in one call.
        miss = ~np.isin(trace.query, policy.entries)
        requests = np.flatnonzero(miss)
        routes = selector.routes(requests, trace, known, random)
        costs = route_cost[routes, requests]
        correct = np.where(miss, np.nan, cached_correct[trace.query])
        correct[requests] = route_correct[routes, requests]
        return Outcome(float(costs.sum()), trace.requests, int((~miss).sum()),
                       int((routes == LARGE).sum()) + _large_after_cascade(trace, requests, routes),
                       int(np.isin(routes, (CASCADE, SMALL)).sum()), float(correct.sum()))

    return _replay(trace, static_cache, policy, selector, random, route_cost, route_correct, cached_correct, known, counts)


def _large_after_cascade(trace: Trace, requests: np.ndarray, routes: np.ndarray) -> int:
    """Cascades whose small answer failed also ran the large model."""
    return int(((routes == CASCADE) & (trace.small_correct[requests] == 0)).sum())


def _replay(trace, static_cache, policy, selector, random, route_cost, route_correct, cached_correct, known,
            counts) -> Outcome:
    """Request by request: the online scenario, and any scenario with a selector that learns. `known` and
    `counts` are the whole trace's (what a static cache was filled from); online, counts start at zero."""
    online = not static_cache
    estimates = Estimates(trace.queries)
    if online:
        counts = np.zeros(trace.queries, int)
    view = View(counts, lambda query: selector.expected_cost(query, estimates.means if online else known), trace.size)
    # Python lists: the loop reads one element at a time, which numpy arrays make slow.
    cost_small, cost_large, cost_cascade = trace.cost_small.tolist(), trace.cost_large.tolist(), trace.cost_cascade.tolist()
    small_correct = trace.small_correct.tolist()
    route_cost, route_correct, cached_correct = route_cost.tolist(), route_correct.tolist(), cached_correct.tolist()
    total = served_correct = 0.0
    hits = large_calls = small_calls = 0
    for request, query in enumerate(trace.query.tolist()):
        if online:
            counts[query] += 1
        if query in policy:
            hits += 1
            served_correct += cached_correct[query]
            if online:
                policy.on_hit(query, view)
            continue
        route = int(selector.routes(np.array([request]), trace, estimates.means, random)[0])
        total += route_cost[route][request]
        answer = route_correct[route][request]
        served_correct += answer
        # The large model ran if chosen, or after a cascade's small answer failed or was not judged.
        large_ran = route == LARGE or (route == CASCADE and small_correct[request] != 1)
        large_calls += route == LARGE or (route == CASCADE and small_correct[request] == 0)
        small_calls += route != LARGE
        estimates.observe(query, cost_small[request] if route != LARGE else None,
                          cost_large[request] if large_ran else None,
                          cost_cascade[request] if route == CASCADE else None)
        if online and policy.on_miss(query, view):
            cached_correct[query] = answer
    return Outcome(total, trace.requests, hits, int(large_calls), int(small_calls), served_correct)
