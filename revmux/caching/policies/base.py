"""What a cache policy is: which queries it keeps, filled once from known statistics (the offline
scenario) or updated request by request (online).

Online policies keep their entries in a binary heap ordered by (value per unit of size, position), so a
request costs O(log n) in the number of entries, not O(n). The heap is lazy: a hit changes an entry's
value but not its heap item, and an item is checked against the entry's current value only when it
reaches the top. That is exact because an entry's value can only rise while it is cached: its count
grows, and its expected cost changes only when a model serves it, which a cached query never needs.
Positions break ties as a list would: an append goes last, a replacement takes its victim's place.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np


class CachePolicy:
    name: str
    static = True  # can be filled once from known frequencies and costs (the offline scenario)
    dynamic = True  # can learn as the trace goes (the online scenario)
    hindsight = False  # filled from the whole trace's ground truth even online: a bound, not a policy to deploy
    tracks_hits = False  # its on_hit does something (the simulator skips the call otherwise)

    def __init__(self, capacity: float, sizes: np.ndarray):
        self.capacity = capacity
        # What "fits" means: sums of sizes drift in floating point (0.1 + 0.1 + 0.1 > 0.3), so a little slack.
        self.limit = capacity + 1e-9 * max(1.0, capacity)
        self.size = np.asarray(sizes, float)
        self.sizes = self.size.tolist()
        self.cached: dict[int, int] = {}  # query -> its entry's token (a fresh one per insertion)
        self.used = 0.0
        self._tokens = itertools.count()
        self._positions = itertools.count()

    def __contains__(self, query: int) -> bool:
        return query in self.cached

    @property
    def entries(self) -> list[int]:
        return list(self.cached)

    # Offline: filled once.
    def value(self, counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Per query, what keeping it is worth: the cache keeps the most worth per unit of size."""
        raise NotImplementedError

    def fill(self, counts: np.ndarray, expected: np.ndarray) -> str:
        """Greedy by worth per unit of size (ties: the earlier query, in order of first appearance), skipping
        what no longer fits. Returns a note on how the choice was made (empty when there is nothing to say)."""
        density = self.value(counts, expected) / self.size
        for query in np.argsort(-density, kind="stable"):
            if counts[query] > 0 and self.used + self.size[query] <= self.limit:
                self._insert(int(query))
        return ""

    # Online: live statistics, shared with the simulator (Python lists, updated in place).
    def start(self, counts: list, expected: list) -> None:
        self.counts, self.expected = counts, expected

    def on_hit(self, query: int) -> None:
        pass

    def on_miss(self, query: int) -> bool:
        """After a miss was served and the statistics updated: admit the query or not (True if admitted)."""
        raise NotImplementedError

    def _insert(self, query: int, position: int | None = None) -> int:
        token = next(self._tokens)
        self.cached[query] = token
        self.used += self.sizes[query]
        return next(self._positions) if position is None else position

    def _remove(self, query: int) -> None:
        del self.cached[query]
        self.used -= self.sizes[query]


class HeapPolicy(CachePolicy):
    """Entries in a lazy min-heap of (key, position, token, query); `key(query)` is the current key."""

    def start(self, counts, expected):
        super().start(counts, expected)
        self.heap: list[tuple[float, int, int, int]] = []

    def key(self, query: int) -> float:
        raise NotImplementedError

    def _push(self, query: int, position: int | None = None) -> None:
        position = self._insert(query, position)
        heapq.heappush(self.heap, (self.key(query), position, self.cached[query], query))

    def _top(self) -> tuple[float, int, int, int]:
        """The entry with the lowest current key (ties: the earliest position), left on the heap."""
        heap, cached = self.heap, self.cached
        while True:
            item = heap[0]
            if cached.get(item[3]) != item[2]:  # evicted since: a stale item
                heapq.heappop(heap)
                continue
            current = self.key(item[3])
            if current != item[0]:  # its value rose while cached: re-file it
                heapq.heapreplace(heap, (current, item[1], item[2], item[3]))
                continue
            return item


class WeightedReplacement(HeapPolicy):
    """Zhu et al.'s online rule, with sizes: insert while there is room; otherwise take the entries of the
    lowest weight per unit of size until the newcomer fits, and replace them only if the newcomer's weight
    is larger than theirs together (else nothing changes). With unit sizes this is the artifact's "replace
    the minimum if the new weight is larger", ties going to the earliest entry."""

    def weight(self, query: int) -> float:
        raise NotImplementedError

    def value(self, counts, expected):
        return self.weight_of(np.asarray(counts, float), np.asarray(expected, float))

    def weight_of(self, counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def key(self, query: int) -> float:
        return self.weight(query) / self.sizes[query]

    def start(self, counts, expected):
        super().start(counts, expected)
        # Equal sizes (the usual case): one victim per replacement, the heap item replaced in place.
        self.one_victim = bool(len(self.size)) and bool(np.all(self.size == self.size[0]))

    def on_miss(self, query: int) -> bool:
        size = self.sizes[query]
        if size > self.limit:
            return False
        if self.used + size <= self.limit:
            self._push(query)
            return True
        if self.one_victim:  # _top() written out: this runs on most misses
            key, heap, cached, current_key = self.key(query), self.heap, self.cached, self.key
            while True:
                lowest, position, token, victim = heap[0]
                if cached.get(victim) != token:
                    heapq.heappop(heap)
                elif (current := current_key(victim)) != lowest:
                    heapq.heapreplace(heap, (current, position, token, victim))
                else:
                    break
            if not lowest < key:
                return False
            del self.cached[victim]
            token = self.cached[query] = next(self._tokens)
            heapq.heapreplace(self.heap, (key, position, token, query))
            return True
        weight = self.weight(query)
        victims, freed, worth = [], 0.0, 0.0
        while self.heap and self.used - freed + size > self.limit:
            item = self._top()
            victim_size = self.sizes[item[3]]
            worth += self.weight(item[3])  # the weight itself: density x size can round below it
            if not worth < weight:
                break
            victims.append(heapq.heappop(self.heap))
            freed += victim_size
        else:
            for _, _, _, victim in victims:
                self._remove(victim)
            self._push(query, min(item[1] for item in victims))
            return True
        for item in victims:  # not worth it: everything stays as it was
            heapq.heappush(self.heap, item)
        return False
