"""Model selectors, one module each, registered by name: adding one is adding a file here."""

from revmux.core.registry import Registry

SELECTORS = Registry("selector", __name__, defaults={"learns": False, "needs_accuracy": False, "consults": False,
                                                     "detector": "none", "needs_column": ""},
                     aliases={"classifier": "answer-classifier"})
