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
        self.random = random
        self.cost, self.small_ran, self.large_ran, _ = table.lists()
        self.consult = table.selector_cost.tolist()  # the same on both arms: not part of what they are compared on
        self.small_cost, self.large_cost = trace.cost_small.tolist(), trace.cost_large.tolist()
        self.small_right = [value == 1 for value in trace.small_correct.tolist()]
        self.expected = [math.nan] * queries  # what LEC and GDSF read
        # Running (mean, count) per query: the cascade arm, the large arm, and (artifact) the small model.
        self.cascade = [(0.0, 0)] * queries
        self.large = [(0.0, 0)] * queries
        self.small = [(0.0, 0)] * queries
        self.misses = [0] * queries
        self.choice = [CASCADE] * queries  # artifact: the per-query policy, starting with the cascade

    def route(self, query: int) -> int:
        if self.mode == "artifact":
            return self.choice[query]
        self.misses[query] += 1
        if self.cascade[query][1] == 0:
            return CASCADE
        if self.large[query][1] == 0:
            return LARGE
        greedy = LARGE if self.large[query][0] < self.cascade[query][0] else CASCADE
        if self.random.uniform() < 1.0 / self.misses[query]:
            return CASCADE if greedy == LARGE else LARGE
        return greedy

    def observe(self, query: int, request: int, route: int) -> None:
        if self.mode == "artifact":
            self._observe_artifact(query, request, route)
            return
        if route == CASCADE:
            self.cascade[query] = _updated(self.cascade[query], self.cost[CASCADE][request] - self.consult[request])
        if self.large_ran[route][request]:
            self.large[query] = _updated(self.large[query], self.large_cost[request])
        known = [mean for mean, count in (self.cascade[query], self.large[query]) if count]
        self.expected[query] = min(known)

    def _observe_artifact(self, query: int, request: int, route: int) -> None:
        if route == CASCADE:
            self.small[query] = _updated(_updated(self.small[query], self.small_cost[request]), self.small_cost[request])
            self.cascade[query] = _updated(self.cascade[query], self.cost[CASCADE][request])
            if not self.small_right[request]:  # observed whether or not it ran or was charged
                self.large[query] = _updated(self.large[query], self.large_cost[request])
        else:
            self.large[query] = _updated(_updated(self.large[query], self.large_cost[request]), self.large_cost[request])
        large_mean, large_count = self.large[query]
        self.choice[query] = LARGE if large_count and self.cascade[query][0] > large_mean else CASCADE
        small_mean = self.small[query][0]
        self.expected[query] = small_mean if large_mean == 0 else min(small_mean, large_mean)

    def expected_cost(self, trace, table):
        raise NotImplementedError("the bandit learns online; it has no offline expected cost")


def _updated(state: tuple[float, int], value: float) -> tuple[float, int]:
    mean, count = state
    return (mean * count + value) / (count + 1), count + 1
