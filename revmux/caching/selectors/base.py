"""What a selector is: for each request that misses the cache, the route it is served by; the failure
detector its cascade route listens to; and, for LEC and GDSF, the cost it expects a query to have."""

from __future__ import annotations

import numpy as np

from revmux.caching.accounting import ARTIFACT_ESCALATION_CHARGE, CASCADE, LARGE, RouteTable, gold_escalation, route_table
from revmux.caching.traces import Trace
from revmux.core.errors import RevmuxError

MODES = ("strict", "artifact")  # strict: every route charged for what ran; artifact: Zhu et al.'s code's accounting


class Selector:
    name: str
    learns = False  # chooses from its own observations: the simulator asks it one request at a time
    needs_accuracy = False  # takes --selector-accuracy
    consults = False  # a selector decides each miss: charged the trace's selector_cost
    # The cascade route's failure detector: "trace" (the escalate column), "gold" (the labels), "keep_small"
    # (a classifier of the small answer), or "none" (a selector that never takes the cascade route).
    detector = "none"
    needs_column = ""  # a trace column it reads

    def __init__(self, accuracy: float | None = None, mode: str = "strict"):
        self.accuracy = accuracy
        self.mode = mode

    def table(self, trace: Trace) -> RouteTable:
        charge = ARTIFACT_ESCALATION_CHARGE if self.mode == "artifact" else 1.0
        return route_table(trace, escalation(trace, self.detector, self.name), self.consults, charge)

    def routes(self, requests: np.ndarray, trace: Trace, table: RouteTable, random: np.random.RandomState) -> np.ndarray:
        """The route of each request in `requests` (indices into the trace, in serving order)."""
        raise NotImplementedError

    def expected_cost(self, trace: Trace, table: RouteTable) -> np.ndarray:
        """Per request, what serving it with this selector is expected to cost (offline: LEC's weight is a
        query's count x the mean of this over its requests)."""
        return table.cost[self.routes(np.arange(trace.requests), trace, table, np.random.RandomState(0)),
                          np.arange(trace.requests)]


def escalation(trace: Trace, detector: str, selector: str) -> np.ndarray:
    """Per request, whether the cascade route runs the large model after the small one."""
    if detector == "none":
        return np.zeros(trace.requests, bool)
    if detector == "gold":
        return gold_escalation(trace)
    if detector == "keep_small":
        if trace.keep_small is None:
            raise RevmuxError(f"selector {selector!r} needs the trace's keep_small column (the decision of a selector "
                              "that reads the small model's answer)")
        return ~trace.keep_small
    judged = ~np.isnan(trace.small_correct)
    given = np.zeros(trace.requests, bool) if trace.escalate is None else ~np.isnan(trace.escalate)
    if (judged & ~given).any():
        row = int(np.flatnonzero(judged & ~given)[0])
        raise RevmuxError(f"selector {selector!r} needs the trace's escalate column (its failure detector's decision) "
                          f"on judged requests; request {row + 1} has none. Add it, or use cascade-gold, the bound "
                          "whose detector knows the labels")
    # Unjudged requests without a decision: the synthetic setting, where the small model never fails.
    return np.where(given, np.nan_to_num(trace.escalate if trace.escalate is not None else 0.0), 0.0).astype(bool)


def fixed(route: int):
    """A routes() that sends every miss the same way."""
    def routes(self, requests, trace, table, random):
        return np.full(len(requests), route)
    return routes


__all__ = ["CASCADE", "LARGE", "MODES", "Selector", "fixed"]
