"""LRU: keep the most recently asked queries (the everyday cache; it needs no statistics, so it has no
offline, filled-once form). The cache dict's order is the recency order."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import CachePolicy


@POLICIES.register
class LeastRecentlyUsed(CachePolicy):
    name = "lru"
    static = False
    tracks_hits = True

    def on_hit(self, query: int) -> None:
        self.cached[query] = self.cached.pop(query)

    def on_miss(self, query: int) -> bool:
        if self.sizes[query] > self.limit:
            return False
        while self.used + self.sizes[query] > self.limit:
            self._remove(next(iter(self.cached)))
        self._insert(query)
        return True
