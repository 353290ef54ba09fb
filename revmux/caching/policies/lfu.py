"""LFU: keep the most frequently asked queries, whatever they cost (Zhu et al.'s baseline)."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import View, WeightedReplacement


@POLICIES.register
class LeastFrequentlyUsed(WeightedReplacement):
    name = "lfu"

    def weight(self, query: int, view: View) -> float:
        return float(view.counts[query])
