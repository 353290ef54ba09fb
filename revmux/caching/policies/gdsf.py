"""GDSF, Greedy-Dual-Size-Frequency (named in Zhu et al.'s abstract; not in their artifact): priority
H = L + frequency x expected cost / size, set when an entry is inserted or hit; a miss always enters,
evicting the lowest-priority entries, and the inflation L rises to the last evicted priority, which ages
entries that stopped being asked. Filled once (offline), it ranks by frequency x cost / size, which is
LEC's ranking."""

import heapq

import numpy as np

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import HeapPolicy


@POLICIES.register
class GreedyDualSizeFrequency(HeapPolicy):
    name = "gdsf"
    tracks_hits = True

    def start(self, counts, expected):
        super().start(counts, expected)
        self.one_victim = bool(len(self.size)) and bool(np.all(self.size == self.size[0]))
        self.inflation = 0.0
        self.priority: dict[int, float] = {}

    def value(self, counts, expected):
        return counts * expected

    def key(self, query: int) -> float:
        return self.priority[query]

    def _priority(self, query: int) -> float:
        return self.inflation + self.counts[query] * self.expected[query] / self.sizes[query]

    def on_hit(self, query: int) -> None:
        self.priority[query] = self._priority(query)  # only rises: the heap item is re-filed when it surfaces

    def on_miss(self, query: int) -> bool:
        if self.sizes[query] > self.limit:
            return False
        if self.one_victim and self.used + self.sizes[query] > self.limit:  # equal sizes: replace in one step
            heap, cached, priorities = self.heap, self.cached, self.priority
            while True:  # _top() written out: this runs on most misses
                lowest, position, token, victim = heap[0]
                if cached.get(victim) != token:
                    heapq.heappop(heap)
                elif priorities[victim] != lowest:
                    heapq.heapreplace(heap, (priorities[victim], position, token, victim))
                else:
                    break
            inflation = self.inflation = priorities.pop(victim)
            del cached[victim]
            priority = priorities[query] = inflation + self.counts[query] * self.expected[query] / self.sizes[query]
            token = cached[query] = next(self._tokens)
            heapq.heapreplace(heap, (priority, next(self._positions), token, query))
            return True
        while self.used + self.sizes[query] > self.limit:
            self._top()  # the lowest current priority on top
            _, _, _, victim = heapq.heappop(self.heap)
            self.inflation = self.priority.pop(victim)
            self._remove(victim)
        self.priority[query] = self._priority(query)
        self._push(query)
        return True
