"""Run-to-completion batching: up to B waiting requests (first come, first served) start together once B
are waiting or the oldest has waited `timeout_s`; the batch decodes until its longest request is done,
and every member returns with the batch."""

from __future__ import annotations

from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.base import Scheduler


@SCHEDULERS.register
class Static(Scheduler):
    name = "static"
    returns_rows_at_once = False

    def _oldest_arrival(self) -> float:
        request = self.waiting[0].request
        return self.arrivals.arrival.get(request.request, request.arrival_s)

    def ready(self, now: float) -> bool:
        if not self.waiting:
            return False
        oldest = self._oldest_arrival()
        return (len(self.waiting) >= self.max_batch or now - oldest >= self.timeout_s
                or not self.arrivals.pending())  # nobody else is coming: waiting longer gains nothing

    def wake_time(self) -> float | None:
        if self.batch is not None or not self.waiting:
            return None
        return self._oldest_arrival() + self.timeout_s

    def step(self, now: float) -> bool:
        if self.batch is None:
            if not self.ready(now):
                return False
            self.batch = self.engine.prefill(self._admit())
        else:
            self.engine.decode(self.batch)
        if all(row.done for row in self.batch.rows):
            self._return_finished()
        return True
