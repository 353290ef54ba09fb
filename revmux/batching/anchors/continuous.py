"""transformers' continuous batching (`init_continuous_batching` / `add_request`), what a user would pick
today: paged cache, prefill chunks and decode tokens packed into one unpadded batch. Set explicitly so the
comparison is fair and CPU-safe: prefix sharing off (it reorders inputs), a fixed cache size and token
budget (the defaults size the cache from system memory). Other configurations of it subclass this one and
change `settings` only (continuous_orca.py)."""

from __future__ import annotations

import time

from transformers import ContinuousBatchingConfig, GenerationConfig

from revmux.batching.anchors import ANCHORS
from revmux.batching.engine import Row
from revmux.batching.schedulers.base import Scheduler
from revmux.workloads.traces import Request

PAGE_SIZE = 64


@ANCHORS.register
class Continuous(Scheduler):
    name = "hf-continuous"
    label = "transformers continuous batching (paged, fifo scheduler)"

    def settings(self, requests: list[Request]) -> dict:
        """ContinuousBatchingConfig's arguments for this trace: a cache that holds `max_batch` requests of
        the trace's longest length, so none is ever evicted, and 256 tokens per forward pass (decode tokens
        first, then prompts, a prompt longer than what is left prefilled in chunks over several passes)."""
        longest = max((len(r.prompt_ids) + r.output_tokens for r in requests), default=PAGE_SIZE)
        blocks_per_request = -(-longest // PAGE_SIZE)
        return dict(page_size=PAGE_SIZE, num_blocks=blocks_per_request * self.max_batch + 1,
                    max_batch_tokens=max(256, PAGE_SIZE * 4), max_requests_per_batch=self.max_batch,
                    allow_block_sharing=False, auto_switch_to_flash=False)

    def serve(self, arrivals) -> list[Row]:
        model, engine = self.engine.model, self.engine
        config = ContinuousBatchingConfig(**self.settings(arrivals.queue))
        generation = GenerationConfig(do_sample=False, eos_token_id=None, max_new_tokens=1)
        manager = model.init_continuous_batching(generation_config=generation, continuous_batching_config=config)
        rows: dict[str, Row] = {}
        manager.start()
        try:
            while arrivals.pending() or len(self.finished) < len(rows):
                now = engine.now()
                for request in arrivals.due(now):
                    rows[request.request] = row = Row(request, admitted_s=now)
                    manager.add_request(list(request.prompt_ids), request_id=request.request,
                                        max_new_tokens=request.output_tokens, record_timestamps=True)
                next_time = arrivals.next_time()
                wait = 0.05 if next_time is None else max(0.0, min(0.05, next_time - engine.now()))
                if len(self.finished) == len(rows):  # nothing in flight: wait for the next arrival
                    time.sleep(wait)
                    continue
                result = manager.get_result(timeout=wait)
                if result is None:
                    continue
                if result.error:
                    raise RuntimeError(f"continuous batching failed on {result.request_id}: {result.error}")
                row = rows[result.request_id]
                row.tokens = list(result.generated_tokens)
                row.first_token_s = result.timestamps[0] - engine.start
                row.finished_s = result.timestamps[-1] - engine.start
                row.returned_s = engine.now()
                self.finished.append(row)
                arrivals.returned(row.request, row.returned_s)
        finally:
            manager.stop(block=True)
            model.destroy_cached_continuous_batching_manager()  # the next run builds its own
        return self.finished
