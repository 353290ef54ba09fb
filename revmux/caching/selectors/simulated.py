"""A selector known only by its accuracy (Zhu et al.'s offline "selector"): with probability `accuracy`
it takes the request's cheaper route of cascade and large, otherwise the dearer one. One uniform draw per
miss, in serving order, from the run's seeded stream: the artifact's coin."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, LARGE, Means, Selector


@SELECTORS.register
class SimulatedAccuracy(Selector):
    name = "simulated"
    needs_accuracy = True

    def routes(self, requests, trace, means, random):
        right = random.uniform(0, 1, size=len(requests)) < self.accuracy
        cascade_cheaper = trace.cost_cascade[requests] <= trace.cost_large[requests]
        return np.where(right == cascade_cheaper, CASCADE, LARGE)

    def expected_cost(self, query: int, means: Means) -> float:
        return float(means.oracle[query])
