"""The one account of what serving a request costs, used by every path (the vectorised static cache, the
request-by-request replay, the synthetic suite and the model pairs).

A request that hits the cache costs nothing and serves the cached answer. A miss takes one of three routes:

    LARGE    the large model only
    CASCADE  the small model; when a failure detector rejects its answer, the large model too
    SMALL    the small model's answer, unchecked

and, when a selector chose the route, the selector's own cost (the trace's `selector_cost`). Which detector
a cascade listens to belongs to the selector: the trace's `escalate` column (a real detector), the gold
labels (a bound), or a classifier that reads the small answer (`keep_small`). `route_table` states, per
route and request, what would run, what it would cost and whether the served answer would be right;
`settle` adds up what the routes actually taken ran. Nothing else in the track computes a cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from revmux.caching.traces import Trace

LARGE, CASCADE, SMALL = 0, 1, 2
HIT = -1  # a request served from the cache
ARTIFACT_ESCALATION_CHARGE = 2  # Zhu et al.'s code charges a failed cascade the large model twice


@dataclass(frozen=True)
class RouteTable:
    """Rows: LARGE, CASCADE, SMALL; columns: requests. What each route would run and cost on each request."""

    cost: np.ndarray  # everything charged: the selector, the small model, the large model
    small_ran: np.ndarray  # bool
    large_ran: np.ndarray  # bool
    correct: np.ndarray  # the served answer is right: 1, 0, NaN (not judged)
    selector_cost: np.ndarray  # per request: what consulting the selector costs (0 when no selector decides)
    large_charge: np.ndarray  # per route: how many times the large model is charged when it runs
    consults_selector: bool  # a selector decides every miss

    # The same as Python lists, for the request-by-request loop (numpy scalars are slow to read one by one).
    # Each is converted once, on first use, and only where a loop reads it: on a long trace the conversions
    # were a tenth of an online replay's time.
    @cached_property
    def cost_list(self) -> list[list[float]]:
        return self.cost.tolist()

    @cached_property
    def large_ran_list(self) -> list[list[bool]]:
        return self.large_ran.tolist()

    @cached_property
    def correct_list(self) -> list[list[float]]:
        return self.correct.tolist()


def gold_escalation(trace: Trace) -> np.ndarray:
    """A detector that knows the labels: escalate exactly when the small answer is wrong (unjudged: never,
    the synthetic setting's small model never fails)."""
    return np.nan_to_num(1 - trace.small_correct, nan=0.0).astype(bool)


def route_table(trace: Trace, escalate: np.ndarray, consults_selector: bool,
                escalation_charge: float = 1.0) -> RouteTable:
    """`escalate`: per request, whether the cascade's detector sends it on to the large model.
    `escalation_charge`: the large model's charge on an escalated cascade (1: what ran; the authors' code: 2)."""
    escalate = np.asarray(escalate, bool)
    selector = trace.consult_cost if consults_selector else np.zeros(trace.requests)
    small_ran = np.stack([np.zeros(trace.requests, bool), np.ones(trace.requests, bool), np.ones(trace.requests, bool)])
    large_ran = np.stack([np.ones(trace.requests, bool), escalate, np.zeros(trace.requests, bool)])
    large_charge = np.array([1.0, escalation_charge, 1.0])
    cost = selector + small_ran * trace.cost_small + large_ran * large_charge[:, None] * trace.cost_large
    correct = np.stack([trace.large_correct, np.where(escalate, trace.large_correct, trace.small_correct),
                        trace.small_correct])
    return RouteTable(cost, small_ran, large_ran, correct, selector, large_charge, consults_selector)


@dataclass(frozen=True)
class Outcome:
    total_cost: float
    requests: int
    hits: int
    selector_calls: int
    small_calls: int
    large_calls: int
    selector_cost: float  # the total, split by what ran
    small_cost: float
    large_cost: float
    served_correct: float  # NaN when the trace is not judged
    note: str = ""  # how the policy decided where it matters (the oracle's exact or greedy knapsack)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.requests

    @property
    def served_accuracy(self) -> float:
        return self.served_correct / self.requests

    def as_dict(self) -> dict:
        return {**asdict(self), "hit_rate": self.hit_rate, "served_accuracy": self.served_accuracy}


def settle(table: RouteTable, trace: Trace, routes: np.ndarray, hit_correct: np.ndarray, note: str = "") -> Outcome:
    """`routes`: per request, the route its miss took, or HIT; `hit_correct`: per request, whether the cached
    answer a hit served was right (read only on hits)."""
    routes = np.asarray(routes)
    missed = np.flatnonzero(routes != HIT)
    taken = routes[missed]
    small_ran, large_ran = table.small_ran[taken, missed], table.large_ran[taken, missed]
    small_cost = float(trace.cost_small[missed][small_ran].sum())
    large_cost = float((trace.cost_large[missed] * table.large_charge[taken] * large_ran).sum())
    selector_cost = float(table.selector_cost[missed].sum())
    hits = routes == HIT
    return Outcome(
        total_cost=float(table.cost[taken, missed].sum()), requests=trace.requests, hits=int(hits.sum()),
        selector_calls=len(missed) if table.consults_selector else 0, small_calls=int(small_ran.sum()), large_calls=int(large_ran.sum()),
        selector_cost=selector_cost, small_cost=small_cost, large_cost=large_cost,
        served_correct=float(table.correct[taken, missed].sum() + np.asarray(hit_correct, float)[hits].sum()),
        note=note)
