"""Static batching with `model.generate` on left-padded batches (what most users do), formed by the same
rule as the `static` scheduler; and unbatched `generate`, one request at a time (the floor, and the
correctness reference every system's tokens are compared with)."""

from __future__ import annotations

import time

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from revmux.batching.anchors import ANCHORS
from revmux.batching.schedulers.static import Static


class _TokenClock(LogitsProcessor):
    """Called once per generated position, just before the token is chosen: its times are token times."""

    def __init__(self):
        self.times: list[float] = []

    def __call__(self, input_ids, scores):
        self.times.append(time.perf_counter())
        return scores


def _decode_kv_slots(cached: int, steps: int) -> int:
    """Keys one row's query attends over in `steps` decode passes, the cache `cached` columns wide before
    the first and one column wider each pass (the pass's own key included)."""
    return steps * cached + steps * (steps + 1) // 2


def generate_greedy(model, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, pad: int, clock=None) -> torch.Tensor:
    """Exactly `new_tokens` greedy tokens per row (EOS ignored), as `generate` makes them."""
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, eos_token_id=None, pad_token_id=pad,
                             logits_processor=LogitsProcessorList([clock] if clock is not None else []))
    return out[:, ids.shape[1]:]


@ANCHORS.register
class GenerateStatic(Static):
    name = "hf-static"
    label = "transformers generate, static left-padded batches"

    def step(self, now: float) -> bool:
        if not self.ready(now):
            return False
        rows = self._admit()
        engine = self.engine
        for row in rows:
            row.admitted_s = now
        ids, mask = engine._padded_prompts(rows)
        longest = max(row.request.output_tokens for row in rows)
        clock = _TokenClock()
        tokens = generate_greedy(engine.model, ids, mask, longest, engine.pad, clock).tolist()
        times = [t - engine.start for t in clock.times]
        counters = engine.counters
        counters.forward_passes += len(times)
        counters.prefill_passes += 1
        width, decode_steps = ids.shape[1], len(times) - 1
        counters.executed_slots += ids.numel() + len(rows) * decode_steps
        counters.useful_slots += int(mask.sum()) + sum(row.request.output_tokens - 1 for row in rows)
        # `generate` keeps every row, finished or not, and the left padding, to the end: each pass spans the
        # whole padded cache; a row's useful keys are its own, while it still wants tokens.
        counters.executed_kv_slots += len(rows) * (width * width + _decode_kv_slots(width, decode_steps))
        counters.useful_kv_slots += sum(len(row.request.prompt_ids) ** 2
                                        + _decode_kv_slots(len(row.request.prompt_ids), row.request.output_tokens - 1)
                                        for row in rows)
        # `generate` grows its DynamicCache by concatenation: pass p rewrites every row's whole cache,
        # width + p columns of keys and values in every layer
        config = engine.model.config
        column_bytes = (2 * config.num_hidden_layers * config.num_key_value_heads
                        * getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
                        * next(engine.model.parameters()).element_size())
        counters.cache_growth_bytes += len(rows) * ((decode_steps + 1) * width + decode_steps * (decode_steps + 1) // 2) * column_bytes
        for row, own in zip(rows, tokens):
            wanted = row.request.output_tokens
            row.tokens = own[:wanted]
            row.first_token_s, row.finished_s = times[0], times[wanted - 1]
        now = engine.now()  # every member returns with the batch
        for row in rows:
            row.returned_s = now
            self.finished.append(row)
            self.arrivals.returned(row.request, now)
        return True


@ANCHORS.register
class GenerateUnbatched(GenerateStatic):
    name = "unbatched"
    label = "transformers generate, one request at a time"

    def __init__(self, engine, max_batch: int, timeout_s: float = 0.0):
        super().__init__(engine, 1, 0.0)  # one request at a time, started as soon as it arrives
