"""LFU: keep the most frequently asked queries, whatever they cost (Zhu et al.'s baseline)."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import WeightedReplacement


@POLICIES.register
class LeastFrequentlyUsed(WeightedReplacement):
    name = "lfu"

    def weight(self, query: int) -> float:
        return self.counts[query]

    def key(self, query: int) -> float:  # weight per unit of size, written out: the simulator's inner loop
        return self.counts[query] / self.sizes[query]

    def weight_of(self, counts, expected):
        return counts
