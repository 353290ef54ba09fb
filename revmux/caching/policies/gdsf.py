"""GDSF, Greedy-Dual-Size-Frequency (named in Zhu et al.'s abstract; not in their artifact): priority
H = L + frequency x expected cost / size, set when an entry is inserted or hit; a miss always enters,
evicting the lowest-priority entries, and the inflation L rises to the last evicted priority, which ages
entries that stopped being asked. Filled once (offline), it ranks by frequency x cost / size, which with
unit sizes is LEC's ranking."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import CachePolicy, View


@POLICIES.register
class GreedyDualSizeFrequency(CachePolicy):
    name = "gdsf"

    def __init__(self, capacity, sizes):
        super().__init__(capacity, sizes)
        self.inflation = 0.0
        self.priority: dict[int, float] = {}

    def score(self, query: int, view: View) -> float:
        return float(view.counts[query]) * view.expected_cost(query) / self.sizes[query]

    def on_hit(self, query: int, view: View) -> None:
        self.priority[query] = self.inflation + self.score(query, view)

    def on_miss(self, query: int, view: View) -> bool:
        if self.sizes[query] > self.capacity:
            return False
        while not self._fits(query):
            victim = min(self.entries, key=self.priority.__getitem__)  # ties: the earliest entry
            self.inflation = self.priority.pop(victim)
            self._remove(victim)
        self._insert(query)
        self.priority[query] = self.inflation + self.score(query, view)
        return True
