"""What a cache policy is: which queries it keeps, filled once from known statistics (the offline
scenario) or updated request by request (online), and the weighted-replacement rule LFU and LEC share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class View:
    """What a policy may know when it decides: per query, how often it was asked, the expected cost of
    serving it with the selector in use (ground truth offline, estimates online), its size."""

    counts: np.ndarray
    expected_cost: callable  # query -> expected serving cost
    sizes: np.ndarray
    oracle_cost: np.ndarray | None = None  # ground-truth mean oracle cost per query (offline and hindsight only)


class CachePolicy:
    name: str
    static = True  # can be filled once from known frequencies and costs (the offline scenario)
    dynamic = True  # can learn as the trace goes (the online scenario)
    hindsight = False  # filled from the whole trace's ground truth even online: a bound, not a policy to deploy

    def __init__(self, capacity: float, sizes: np.ndarray):
        self.capacity = capacity
        self.sizes = sizes
        self.entries: list[int] = []  # cached queries; order matters: ties go to the earliest entry
        self.used = 0.0

    def __contains__(self, query: int) -> bool:
        return query in self.entries

    def score(self, query: int, view: View) -> float:
        """The static ranking: the cache keeps the highest scores."""
        raise NotImplementedError

    def fill(self, view: View) -> None:
        """Keep the best-scoring queries that fit (ties: the earlier query, in order of first appearance)."""
        scores = np.array([self.score(query, view) for query in range(len(view.counts))])
        for query in np.argsort(-scores, kind="stable"):
            if view.counts[query] > 0 and self.used + self.sizes[query] <= self.capacity:
                self._insert(int(query))

    def on_hit(self, query: int, view: View) -> None:
        pass

    def on_miss(self, query: int, view: View) -> bool:
        """After a miss was served and the statistics updated: admit the query or not (True if admitted)."""
        raise NotImplementedError

    def _insert(self, query: int, at: int | None = None) -> None:
        self.entries.insert(len(self.entries) if at is None else at, query)
        self.used += self.sizes[query]

    def _remove(self, query: int) -> int:
        at = self.entries.index(query)
        del self.entries[at]
        self.used -= self.sizes[query]
        return at

    def _fits(self, query: int) -> bool:
        return self.used + self.sizes[query] <= self.capacity


class WeightedReplacement(CachePolicy):
    """Zhu et al.'s online rule: insert while there is room; else replace the lowest-weight entries, in
    ascending weight, only while each is lighter than the newcomer (so a newcomer lighter than every entry
    stays out). With unit sizes this is the artifact's 'replace the minimum if the new weight is larger'."""

    def weight(self, query: int, view: View) -> float:
        raise NotImplementedError

    def score(self, query: int, view: View) -> float:
        return self.weight(query, view)

    def on_miss(self, query: int, view: View) -> bool:
        if self.sizes[query] > self.capacity:
            return False
        if self._fits(query):
            self._insert(query)
            return True
        weight = self.weight(query, view)
        weights = [self.weight(entry, view) for entry in self.entries]
        freed, victims = 0.0, []
        for index in sorted(range(len(self.entries)), key=weights.__getitem__):
            if not weights[index] < weight:
                return False
            victims.append(self.entries[index])
            freed += self.sizes[self.entries[index]]
            if self.used - freed + self.sizes[query] <= self.capacity:
                at = min(self.entries.index(victim) for victim in victims)
                for victim in victims:
                    self._remove(victim)
                self._insert(query, at)  # in the first victim's place, as the artifact replaces in place
                return True
        return False
