"""The online learned selector (Zhu et al.'s Algorithm 2): per query, two arms, the cascade and the large
model, chosen from running means of what each cost.

Strict (the default) learns only from what ran: the cascade reveals its own cost (and the large model's
when its detector escalated), the large model its own. It explores by Gaussian Thompson sampling per
query: each arm is tried once (the cascade first); then on each miss it draws each arm's mean cost from
N(running mean, pooled variance / observations) and takes the lower draw. The variance is each arm's,
pooled over queries (a query has too few observations of its own). Until both arms of a query have been
tried its cost is unknown, and LEC and GDSF give it no weight (it is kept only where there is room):
weighing it by the one arm it has tried would freeze a dear first guess into the cache, since a cached
query is never served again and so never learns. Then LEC weighs it by the lower of the two means.

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
        cost, self.large_ran = table.cost_list, table.large_ran_list
        consult = table.selector_cost.tolist()  # the same on both arms: not part of what they are compared on
        self.cascade_cost = [total - selector for total, selector in zip(cost[CASCADE], consult)]
        self.artifact_cascade_cost = cost[CASCADE]
        self.small_cost, self.large_cost = trace.cost_small.tolist(), trace.cost_large.tolist()
        self.small_right = [value == 1 for value in trace.small_correct.tolist()]
        self.expected = [math.nan if self.mode == "artifact" else 0.0] * queries  # what LEC and GDSF read
        # Per query and arm (the cascade, the large model): running mean and count.
        self.cascade_mean, self.cascade_count = [0.0] * queries, [0] * queries
        self.large_mean, self.large_count = [0.0] * queries, [0] * queries
        # Per arm (indexed by route: LARGE 0, CASCADE 1), over all queries: the squared deviations from each
        # query's own mean and their degrees of freedom, whose ratio is the pooled variance.
        self.pooled = [0.0, 0.0]
        self.freedom = [0, 0]
        self.small = [(0.0, 0)] * queries  # artifact: the small model's mean, counted as the authors' code counts it
        self.choice = [CASCADE] * queries  # artifact: the per-query policy, starting with the cascade
        if self.mode == "strict":
            # Two standard normal draws per request (the cascade's, the large model's), drawn up front in one
            # call: a draw per call is slow.
            draws = random.standard_normal(size=(trace.requests, 2))
            self.cascade_draws, self.large_draws = draws[:, 0].tolist(), draws[:, 1].tolist()
            self.serve = self._strict_server()

    def serve(self, query: int, request: int) -> int:
        """The route of this miss, and what the models that ran revealed, learned (the authors' rules; the
        strict server replaces this in start())."""
        route = self.choice[query]
        self._observe_artifact(query, request, route)
        return route

    def _strict_server(self):
        """serve() for the strict mode, as a closure over plain lists: it runs once per miss, and attribute
        lookups would be most of its time."""
        cascade_mean, cascade_count, large_mean, large_count = (self.cascade_mean, self.cascade_count,
                                                                 self.large_mean, self.large_count)
        pooled, freedom, expected = self.pooled, self.freedom, self.expected
        cascade_draws, large_draws = self.cascade_draws, self.large_draws
        cascade_cost, large_cost, large_ran = self.cascade_cost, self.large_cost, self.large_ran
        sqrt = math.sqrt

        def serve(query: int, request: int) -> int:
            cascade_seen, large_seen = cascade_count[query], large_count[query]
            if not cascade_seen:
                route = CASCADE
            elif not large_seen:
                route = LARGE
            else:  # each arm's mean drawn from N(mean, pooled variance / observations); the lower draw wins
                cascade_spread = sqrt(pooled[CASCADE] / freedom[CASCADE] / cascade_seen) if freedom[CASCADE] else 0.0
                large_spread = sqrt(pooled[LARGE] / freedom[LARGE] / large_seen) if freedom[LARGE] else 0.0
                route = (LARGE if large_mean[query] + large_spread * large_draws[request]
                         < cascade_mean[query] + cascade_spread * cascade_draws[request] else CASCADE)
            # Welford's update of the arm that ran (both, where the cascade escalated): written out twice, as
            # a call per update would be a fifth of this function's time.
            if route == CASCADE:
                value, mean = cascade_cost[request], cascade_mean[query]
                cascade_seen += 1
                new_mean = mean + (value - mean) / cascade_seen
                pooled[CASCADE] += (value - mean) * (value - new_mean)
                freedom[CASCADE] += cascade_seen > 1
                cascade_mean[query], cascade_count[query] = new_mean, cascade_seen
            if large_ran[route][request]:
                value, mean = large_cost[request], large_mean[query]
                large_seen += 1
                new_mean = mean + (value - mean) / large_seen
                pooled[LARGE] += (value - mean) * (value - new_mean)
                freedom[LARGE] += large_seen > 1
                large_mean[query], large_count[query] = new_mean, large_seen
            if cascade_seen and large_seen:
                expected[query] = min(cascade_mean[query], large_mean[query])
            return route

        return serve

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
