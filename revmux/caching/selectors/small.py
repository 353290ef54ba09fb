"""Always the small model, its answer unchecked: the trivial router a trained selector must beat. A selector
that sends most queries to the small model is worth its cost only where it serves better answers than this."""

from revmux.caching.accounting import SMALL
from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import Selector, fixed


@SELECTORS.register
class AlwaysSmall(Selector):
    name = "small"
    routes = fixed(SMALL)
