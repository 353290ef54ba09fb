"""The perfect selector, the oracle's: per request it takes the cheapest route that serves the best answer
either model gives (the small model's where it is right, else the large model's where that is right; the
cheaper of the two where both are right or both wrong; unjudged answers count as right, the synthetic
setting). It costs nothing to consult and never runs a model it does not need, so no selector can serve
that accuracy for less. One that serves wrong answers can cost less: the tables show the served accuracy
beside the cost."""

import numpy as np

from revmux.caching.accounting import SMALL
from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import LARGE, Selector


@SELECTORS.register
class PerfectSelector(Selector):
    name = "perfect"

    def routes(self, requests, trace, table, random):
        small_right = trace.small_correct[requests] != 0  # NaN (not judged) counts as right
        large_right = trace.large_correct[requests] != 0
        small_cheaper = table.cost[SMALL, requests] <= table.cost[LARGE, requests]
        take_small = np.where(small_right == large_right, small_cheaper, small_right)
        return np.where(take_small, SMALL, LARGE)
