"""The online learned selector (Zhu et al.'s Algorithm 2, as the artifact runs it): a per-query table that
starts with the cascade and switches a query to the large model once the large model's cost has been seen
and its mean is below the cascade's mean. It learns only from what ran (bandit feedback): the cascade
reveals the small model's cost, and the large model's only when the small answer failed or is not judged
(as in the synthetic setting, where the artifact lets the large model run to check)."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, LARGE, Means, Selector


@SELECTORS.register
class BanditLearned(Selector):
    name = "bandit"
    learns = True

    def routes(self, requests, trace, means, random):
        return np.array([LARGE if means.large[query] < means.cascade[query] else CASCADE
                         for query in trace.query[requests]])  # NaN (never seen) compares False: cascade

    def expected_cost(self, query: int, means: Means) -> float:
        return float(means.oracle[query])
