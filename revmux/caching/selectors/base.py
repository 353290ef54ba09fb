"""What a selector is: for each request that misses the cache, the route it is served by, and the cost it
expects a query to have under that choice (what LEC and GDSF weigh)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Routes a miss can take; the simulator turns each into a cost, an answer and what it observed.
LARGE = 0  # the large model only
CASCADE = 1  # the small model, and the large one when the small answer fails
SMALL = 2  # the small model's answer, unchecked


@dataclass
class Means:
    """Per-query mean costs, NaN where nothing was observed: the truth over the whole trace (offline) or
    running estimates from what the served models revealed (online)."""

    small: np.ndarray
    large: np.ndarray
    cascade: np.ndarray
    oracle: np.ndarray  # mean of the per-request cheaper of cascade and large (truth) or the cheaper estimate


class Selector:
    name: str
    learns = False  # chooses from its own observations: the simulator asks it one request at a time
    needs_accuracy = False  # takes --selector-accuracy
    needs_judged = False  # needs the trace's correctness or routing columns

    def __init__(self, accuracy: float | None = None):
        self.accuracy = accuracy

    def prepare(self, trace) -> None:
        """Called once per trace before serving."""

    def routes(self, requests: np.ndarray, trace, means: Means, random: np.random.RandomState) -> np.ndarray:
        """The route of each request in `requests` (indices into the trace, in serving order)."""
        raise NotImplementedError

    def expected_cost(self, query: int, means: Means) -> float:
        raise NotImplementedError
