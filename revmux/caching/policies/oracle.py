"""The oracle: the best static cache for the whole trace, known in hindsight. Every miss then pays the
oracle cost (the cheaper of cascade and large), so the cache that minimises the total keeps the queries
with the largest frequency x mean oracle cost. Paired with a selector that is always right, it is the
lower bound for any static cache; online it is still filled from the whole trace: a bound, not a policy."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import CachePolicy, View


@POLICIES.register
class HindsightOptimal(CachePolicy):
    name = "oracle"
    dynamic = False
    hindsight = True

    def score(self, query: int, view: View) -> float:
        return float(view.counts[query]) * float(view.oracle_cost[query])

    def on_miss(self, query: int, view: View) -> bool:
        return False
