"""The oracle: the best static cache for the whole trace, known in hindsight, with the perfect selector
(revmux/caching/selectors/perfect.py: free, and always taking the cheapest route to the best answer either
model gives). Every miss then pays that selector's cost, so the cache that minimises the total keeps the set
of queries with the largest total of frequency x that cost within the cache's size: a knapsack. It bounds
from below the cost of every static cache serving that accuracy; a selector that serves wrong answers can
cost less, and online, a policy that adapts can beat it on a trace whose popular queries shift: there it is
a hindsight reference, not a bound. It is solved exactly where sizes are whole numbers and queries x capacity is small
enough for dynamic programming (with unit sizes: the top k); otherwise the greedy choice by value per unit
of size is used and the note says how far from the best it can be. Online it is still filled from the
whole trace: a bound, not a policy."""

import numpy as np

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import CachePolicy

EXACT_CELLS = 20_000_000  # queries x capacity up to which the knapsack is solved exactly


@POLICIES.register
class HindsightOptimal(CachePolicy):
    name = "oracle"
    dynamic = False
    hindsight = True

    def value(self, counts, expected):
        return counts * expected

    def fill(self, counts, expected):
        value = np.where(counts > 0, self.value(counts, expected), 0.0)
        if np.all(self.size == self.size[0]):  # equal sizes: the k most valuable, exactly
            return super().fill(counts, expected)
        whole = bool(np.all(self.size == np.round(self.size))) and np.isfinite(self.capacity)  # exactly whole
        capacity = int(np.floor(self.capacity + 1e-9)) if whole else 0
        if whole and len(value) * (capacity + 1) <= EXACT_CELLS:
            chosen = _knapsack(value, np.round(self.size).astype(int), capacity)
            assert self.size[chosen].sum() <= self.capacity, "the knapsack's choice must fit the cache"
            for query in np.flatnonzero(chosen):
                self._insert(int(query))
            return "exact knapsack"
        super().fill(counts, expected)
        greedy = float(value[list(self.cached)].sum())
        bound = _fractional_bound(value, self.size, self.capacity)
        return (f"greedy by value per unit of size (sizes not whole numbers, or queries x capacity above "
                f"{EXACT_CELLS:,}): keeps {greedy:.6g} of value, the best keeps at most {bound:.6g}")

    def on_miss(self, query: int) -> bool:
        return False


def _knapsack(value: np.ndarray, size: np.ndarray, capacity: int) -> np.ndarray:
    """0/1 knapsack by dynamic programming over capacities; returns which items are taken."""
    best = np.zeros(capacity + 1)
    taken = np.zeros((len(value), capacity + 1), bool)
    for item in range(len(value)):
        if value[item] <= 0 or size[item] > capacity:
            continue
        candidate = np.full(capacity + 1, -np.inf)
        candidate[size[item]:] = best[:capacity + 1 - size[item]] + value[item]
        taken[item] = candidate > best
        best = np.maximum(best, candidate)
    chosen = np.zeros(len(value), bool)
    room = capacity
    for item in range(len(value) - 1, -1, -1):
        if taken[item, room]:
            chosen[item] = True
            room -= size[item]
    return chosen


def _fractional_bound(value: np.ndarray, size: np.ndarray, capacity: float) -> float:
    """The value of the best fractional filling: no set of whole entries can beat it."""
    order = np.argsort(-value / size, kind="stable")
    total, room = 0.0, capacity
    for item in order:
        if value[item] <= 0 or room <= 0:
            break
        share = min(1.0, room / size[item])
        total += share * value[item]
        room -= share * size[item]
    return total
