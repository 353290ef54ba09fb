"""A trained selector that reads the small model's answer (and its confidence): the small model runs on
every miss and is charged, the selector too (`selector_cost`); where it rejects the answer (`keep_small`
0) the large model runs as well. A cascade whose detector is a classifier: its every wrong "keep" serves a
wrong small answer, its every wrong "reject" pays the large model for nothing."""

from revmux.caching.selectors import SELECTORS
from revmux.caching.selectors.base import CASCADE, Selector, fixed


@SELECTORS.register
class AnswerClassifier(Selector):
    name = "answer-classifier"
    consults = True
    detector = "keep_small"
    needs_column = "keep_small"
    routes = fixed(CASCADE)
