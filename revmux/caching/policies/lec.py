"""LEC, Least Expected Cost (Zhu et al.): keep the queries with the largest frequency x expected cost of
serving them with the selector in use, so a cheap popular query can give way to a dear rarer one."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import WeightedReplacement


@POLICIES.register
class LeastExpectedCost(WeightedReplacement):
    name = "lec"

    def weight(self, query: int) -> float:
        return self.counts[query] * self.expected[query]

    def key(self, query: int) -> float:  # weight per unit of size, written out: the simulator's inner loop
        return self.counts[query] * self.expected[query] / self.sizes[query]

    def weight_of(self, counts, expected):
        return counts * expected
