"""Orca (Yu et al., OSDI '22): iteration-level scheduling with selective batching. Every iteration is one
forward pass over the running requests' decode tokens and the newcomers' whole prompts, packed without
padding (`revmux.batching.packed`); each request attends over its own keys and values only. Requests
join at the next iteration and leave the iteration they finish; a request's key/value buffer is reserved
when it joins and dropped when it leaves, so nothing is ever copied."""

from __future__ import annotations

from revmux.batching.engine import Row
from revmux.batching.packed import KVSlot, new_slot, packed_attention, packed_forward
from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.base import Scheduler


@SCHEDULERS.register
class Orca(Scheduler):
    name = "orca"

    def serve(self, arrivals) -> list[Row]:
        self.running: list[tuple[Row, KVSlot]] = []
        self.batch = self.running  # what the shared loop checks for work in flight
        # Orca cannot know how long a request's output will be, so it reserves the most any request may
        # generate: here the longest output of the trace served, read once from the whole queue.
        self.reserved_output = max((request.output_tokens for request in arrivals.queue), default=0)
        with packed_attention(self.engine.model):
            return super().serve(arrivals)

    def _admit(self) -> list[Row]:
        room = self.max_batch - len(self.running)
        newcomers, self.waiting = self.waiting[:room], self.waiting[room:]
        return newcomers

    def step(self, now: float) -> bool:
        newcomers = self._admit()
        if not newcomers and not self.running:
            return False
        engine, counters = self.engine, self.engine.counters
        for row in newcomers:
            row.admitted_s = now
            self.running.append((row, new_slot(engine.model, len(row.request.prompt_ids) + self.reserved_output)))
        joined = {id(row) for row in newcomers}
        segments = [(slot, list(row.request.prompt_ids) if id(row) in joined else [row.tokens[-1]])
                    for row, slot in self.running]
        kv_slots = sum(len(new) * (slot.filled + len(new)) for slot, new in segments)
        packed = sum(len(new) for _, new in segments)
        tokens = packed_forward(engine.model, segments)
        # every query is a real token of an unfinished request and every key its own: nothing is waste
        counters.forward_passes += 1
        counters.prefill_passes += bool(newcomers)
        counters.executed_slots += packed
        counters.useful_slots += packed
        counters.executed_kv_slots += kv_slots
        counters.useful_kv_slots += kv_slots
        engine._record([row for row, _ in self.running], tokens, [True] * len(self.running))
        self._return_finished()
        return True

    def _return_finished(self) -> None:
        now = self.engine.now()
        still = []
        for row, slot in self.running:
            if row.done:
                row.returned_s = now
                self.finished.append(row)
                self.arrivals.returned(row.request, now)
            else:
                still.append((row, slot))
        self.running[:] = still  # in place: self.batch is the same list
