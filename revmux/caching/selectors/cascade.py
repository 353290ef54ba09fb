"""Cascade: the small model first, the large one when the small answer fails (the failure is charged the
large model twice, the artifact's rule). In the synthetic setting the small model never fails, so this is
"always small": "model 2" in the synthetic tables."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, Means, Selector


@SELECTORS.register
class Cascade(Selector):
    name = "cascade"

    def routes(self, requests, trace, means, random):
        return np.full(len(requests), CASCADE)

    def expected_cost(self, query: int, means: Means) -> float:
        return float(means.cascade[query])
