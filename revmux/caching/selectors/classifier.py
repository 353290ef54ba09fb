"""A trained selector's decisions, read from the trace (`small_first`: 1 where the classifier predicts the
small model is right). It sends those queries to the small model and keeps its answer unchecked, so every
wrong prediction either costs the large model where the small one would have done, or serves a wrong
small answer: the accuracy a real selector trades for cost."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import LARGE, SMALL, Means, Selector


@SELECTORS.register
class TrainedClassifier(Selector):
    name = "classifier"
    needs_judged = True

    def prepare(self, trace) -> None:
        first = np.unique(trace.query, return_index=True)[1]  # a query's decision: its first request's
        self.sends_small = trace.small_first[first]

    def routes(self, requests, trace, means, random):
        return np.where(trace.small_first[requests], SMALL, LARGE)

    def expected_cost(self, query: int, means: Means) -> float:
        return float(means.small[query] if self.sends_small[query] else means.large[query])
