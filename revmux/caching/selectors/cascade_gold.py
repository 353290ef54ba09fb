"""A cascade whose failure detector knows the gold labels: the large model runs exactly when the small
answer is wrong. No deployable detector does this; it is the bound a real one (`cascade`) is measured
against, and the cascade of Zhu et al.'s code."""

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, Selector, fixed


@SELECTORS.register
class GoldCascade(Selector):
    name = "cascade-gold"
    detector = "gold"
    routes = fixed(CASCADE)
