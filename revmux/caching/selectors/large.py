"""Always the large model (Zhu et al.'s baseline; "model 1" in the synthetic tables)."""

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import LARGE, Selector, fixed


@SELECTORS.register
class AlwaysLarge(Selector):
    name = "large"
    routes = fixed(LARGE)
