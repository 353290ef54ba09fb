"""A selector known only by its accuracy (Zhu et al.'s offline "selector"): with probability `accuracy`
it takes the request's cheaper route of cascade and large, otherwise the dearer one. One uniform draw per
miss, in serving order, from the run's seeded stream: the artifact's coin. Its cascade knows the labels
(as the paper's), so at accuracy 1 it is the perfect selector the oracle assumes.

What LEC expects it to cost: a x the cheaper + (1 - a) x the dearer route, per request. The authors' code
weighs every query by the cheaper route whatever the accuracy (the cost of a perfect selector); that is
the `artifact` mode, kept for the published-table comparison."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, LARGE, Selector


@SELECTORS.register
class SimulatedAccuracy(Selector):
    name = "simulated"
    needs_accuracy = True
    consults = True
    detector = "gold"

    def routes(self, requests, trace, table, random):
        right = random.uniform(0, 1, size=len(requests)) < self.accuracy
        cascade_cheaper = table.cost[CASCADE, requests] <= table.cost[LARGE, requests]
        return np.where(right == cascade_cheaper, CASCADE, LARGE)

    def expected_cost(self, trace, table):
        cheaper = np.minimum(table.cost[CASCADE], table.cost[LARGE])
        if self.mode == "artifact":
            return cheaper
        dearer = np.maximum(table.cost[CASCADE], table.cost[LARGE])
        return self.accuracy * cheaper + (1 - self.accuracy) * dearer
