"""The serving loop every scheduler shares: take in arrived requests, run one step, hand back finished
requests; when nothing is running and nothing has arrived, wait for the next arrival."""

from __future__ import annotations

import time

from revmux.batching.engine import Engine, PaddedBatch, Row
from revmux.core.errors import RevmuxError


class Scheduler:
    name: str
    returns_rows_at_once = True  # a finished request leaves the batch (and returns) the step it finishes

    def __init__(self, engine: Engine, max_batch: int, timeout_s: float = 0.0):
        if max_batch < 1:
            raise RevmuxError(f"max batch size {max_batch} must be at least 1")
        if timeout_s < 0:
            raise RevmuxError(f"batch timeout {timeout_s} s must be >= 0")
        self.engine, self.max_batch, self.timeout_s = engine, max_batch, timeout_s
        self.batch: PaddedBatch | None = None
        self.waiting: list[Row] = []
        self.finished: list[Row] = []

    def serve(self, arrivals) -> list[Row]:
        self.arrivals = arrivals
        while arrivals.pending() or self.waiting or (self.batch is not None and len(self.batch)):
            now = self.engine.now()
            self.waiting.extend(Row(request) for request in arrivals.due(now))
            if not self.step(now):
                self._wait(now)
        return self.finished

    def _wait(self, now: float) -> None:
        wake = [t for t in (self.arrivals.next_time(), self.wake_time()) if t is not None]
        if wake:
            time.sleep(max(0.0, min(wake) - now))
        elif not self.arrivals.pending() and not self.waiting:
            return
        else:
            raise RuntimeError(f"{self.name}: idle with requests waiting and nothing to wake it")

    def wake_time(self) -> float | None:
        """When the scheduler wants to act next although nothing arrives (a batch timeout)."""
        return None

    def step(self, now: float) -> bool:
        """Run one forward pass (or splice) if there is work; False when there was nothing to do. The
        iteration-level default: waiting requests join at the next iteration (`join`), otherwise every
        running row decodes one token; finished rows leave at once."""
        newcomers = self._admit()
        if newcomers:
            self.batch = self.join(newcomers)
        elif self.batch is not None:
            self.engine.decode(self.batch)
        else:
            return False
        self._return_finished()
        return True

    def join(self, newcomers: list[Row]) -> PaddedBatch:
        """The running batch with the newcomers in it (and their first tokens)."""
        raise NotImplementedError

    def _admit(self) -> list[Row]:
        room = self.max_batch - (len(self.batch) if self.batch is not None else 0)
        newcomers, self.waiting = self.waiting[:room], self.waiting[room:]
        return newcomers

    def _return_finished(self) -> None:
        """Finished rows leave the running batch at once."""
        if self.batch is None:
            return
        now = self.engine.now()
        keep = []
        for index, row in enumerate(self.batch.rows):
            if row.done:
                row.returned_s = now
                self.finished.append(row)
                self.arrivals.returned(row.request, now)
            else:
                keep.append(index)
        self.batch = self.engine.keep(self.batch, keep)
