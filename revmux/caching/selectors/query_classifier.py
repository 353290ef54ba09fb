"""A trained selector that reads only the query (Zhu et al.'s model multiplexer): before any model runs it
sends the query to the small model (`pick_small` 1), whose answer is served unchecked, or to the large one.
It is charged its own cost (`selector_cost`) on every miss, and no small-model run it did not ask for."""

import numpy as np

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import LARGE, Selector
from revmux.caching.accounting import SMALL


@SELECTORS.register
class QueryClassifier(Selector):
    name = "query-classifier"
    consults = True
    needs_column = "pick_small"

    def routes(self, requests, trace, table, random):
        return np.where(trace.pick_small[requests], SMALL, LARGE)
