"""LRU: keep the most recently asked queries (the everyday cache; it needs no statistics, so it has no
offline, filled-once form)."""

from revmux.caching.policies import POLICIES
from revmux.caching.policies.base import CachePolicy, View


@POLICIES.register
class LeastRecentlyUsed(CachePolicy):
    name = "lru"
    static = False

    def on_hit(self, query: int, view: View) -> None:
        self.entries.remove(query)
        self.entries.append(query)

    def on_miss(self, query: int, view: View) -> bool:
        if self.sizes[query] > self.capacity:
            return False
        while not self._fits(query):
            self._remove(self.entries[0])
        self._insert(query)
        return True
