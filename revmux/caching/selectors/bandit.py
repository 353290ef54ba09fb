"""The online learned selector (Zhu et al.'s Algorithm 2): per query, two arms, the cascade and the large
model, chosen from running means of what each cost.

Strict (the default) learns only from what ran: the cascade reveals its own cost (and the large model's
when its detector escalated), the large model its own. It explores by the epsilon_n-greedy rule of Auer,
Cesa-Bianchi and Fischer (2002) per query: each arm is tried once (the cascade first), then the arm with
the lower mean, except that with probability 1/n (n: the query's misses so far) it takes the other one.
LEC weighs a query by the mean of the arm it would choose.

`artifact` is the authors' code, kept for the published-table comparison: it never explores; on every
cascade miss whose small answer is not judged right it records the large model's cost without running or
charging it (full information, where the synthetic small model is never judged); it counts a large-model
observation twice and the small model's cost twice; a query switches to the large model once the large
mean is below the cascade mean; LEC weighs it by the lower of the small and large means.
"""

import math

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, LARGE, Selector


@SELECTORS.register
class BanditLearned(Selector):
    name = "bandit"
    learns = True
    consults = True
    detector = "trace"

    def start(self, trace, table, random) -> None:
        queries = trace.queries
        cost, _, self.large_ran, _ = table.lists()
        consult = table.selector_cost.tolist()  # the same on both arms: not part of what they are compared on
        self.cascade_cost = [total - selector for total, selector in zip(cost[CASCADE], consult)]
        self.artifact_cascade_cost = cost[CASCADE]
        self.small_cost, self.large_cost = trace.cost_small.tolist(), trace.cost_large.tolist()
        self.small_right = [value == 1 for value in trace.small_correct.tolist()]
        self.expected = [math.nan] * queries  # what LEC and GDSF read
        # Running means and counts per query: the cascade arm, the large arm, and (artifact) the small model.
        self.cascade_mean, self.cascade_count = [0.0] * queries, [0] * queries
        self.large_mean, self.large_count = [0.0] * queries, [0] * queries
        self.small = [(0.0, 0)] * queries
        self.misses = [0] * queries
        self.choice = [CASCADE] * queries  # artifact: the per-query policy, starting with the cascade
        # Strict: one uniform draw per miss, drawn up front in one call (a draw per call is slow).
        self.draws = iter(random.uniform(size=trace.requests).tolist()) if self.mode == "strict" else None

    def serve(self, query: int, request: int) -> int:
        """The route of this miss, and what the models that ran revealed, learned."""
        if self.mode == "artifact":
            route = self.choice[query]
            self._observe_artifact(query, request, route)
            return route
        misses = self.misses[query] = self.misses[query] + 1
        draw = next(self.draws)
        cascade_count, large_count = self.cascade_count[query], self.large_count[query]
        if not cascade_count:
            route = CASCADE
        elif not large_count:
            route = LARGE
        else:  # exploring with probability 1/n: the other arm
            greedy_large = self.large_mean[query] < self.cascade_mean[query]
            route = LARGE if greedy_large != (draw * misses < 1.0) else CASCADE
        if route == CASCADE:
            self.cascade_mean[query] = (self.cascade_mean[query] * cascade_count + self.cascade_cost[request]) / (cascade_count + 1)
            self.cascade_count[query] = cascade_count = cascade_count + 1
        if self.large_ran[route][request]:
            self.large_mean[query] = (self.large_mean[query] * large_count + self.large_cost[request]) / (large_count + 1)
            self.large_count[query] = large_count = large_count + 1
        if cascade_count and large_count:
            self.expected[query] = min(self.cascade_mean[query], self.large_mean[query])
        else:
            self.expected[query] = self.cascade_mean[query] if cascade_count else self.large_mean[query]
        return route

    def _observe_artifact(self, query: int, request: int, route: int) -> None:
        cascade = (self.cascade_mean[query], self.cascade_count[query])
        large = (self.large_mean[query], self.large_count[query])
        if route == CASCADE:
            self.small[query] = _updated(_updated(self.small[query], self.small_cost[request]), self.small_cost[request])
            cascade = _updated(cascade, self.artifact_cascade_cost[request])
            if not self.small_right[request]:  # observed whether or not it ran or was charged
                large = _updated(large, self.large_cost[request])
        else:
            large = _updated(_updated(large, self.large_cost[request]), self.large_cost[request])
        (self.cascade_mean[query], self.cascade_count[query]), (self.large_mean[query], self.large_count[query]) = cascade, large
        large_mean, large_count = large
        self.choice[query] = LARGE if large_count and cascade[0] > large_mean else CASCADE
        small_mean = self.small[query][0]
        self.expected[query] = small_mean if large_mean == 0 else min(small_mean, large_mean)

    def expected_cost(self, trace, table):
        raise NotImplementedError("the bandit learns online; it has no offline expected cost")


def _updated(state: tuple[float, int], value: float) -> tuple[float, int]:
    mean, count = state
    return (mean * count + value) / (count + 1), count + 1
