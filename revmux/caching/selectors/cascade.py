"""Cascade: the small model first, the large one when the trace's failure detector (`escalate`) rejects the
small answer. In the synthetic setting the small model never fails, so this is "always small": "model 2"
in the synthetic tables. A judged trace must say what its detector decided: `cascade-gold` is the bound."""

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, Selector, fixed


@SELECTORS.register
class Cascade(Selector):
    name = "cascade"
    detector = "trace"
    routes = fixed(CASCADE)
