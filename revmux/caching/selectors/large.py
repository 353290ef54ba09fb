"""Always the large model (Zhu et al.'s baseline; "model 1" in the synthetic tables)."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import LARGE, Means, Selector


@SELECTORS.register
class AlwaysLarge(Selector):
    name = "large"

    def routes(self, requests, trace, means, random):
        return np.full(len(requests), LARGE)

    def expected_cost(self, query: int, means: Means) -> float:
        return float(means.large[query])
