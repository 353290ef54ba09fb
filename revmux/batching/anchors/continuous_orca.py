"""transformers' continuous batching configured as Orca (Yu et al., OSDI 2022) schedules: each forward pass
takes every running request's next token and the whole prompt of each request admitted, first come first
served, up to the maximum batch; a prompt is never split over passes (no chunked prefill) and an admitted
request is never held back for cache space. The serving loop, the cache size and prefix sharing (off) are
`hf-continuous`'s; only the scheduler settings differ."""

from __future__ import annotations

from revmux.batching.anchors import ANCHORS
from revmux.batching.anchors.continuous import Continuous
from revmux.workloads.traces import Request


@ANCHORS.register
class ContinuousOrca(Continuous):
    name = "hf-continuous-orca"
    label = ("transformers continuous batching as Orca: prefill_first scheduler, no chunked prefill "
             "(token budget = max batch x longest prompt), no safety margin")

    def settings(self, requests: list[Request]) -> dict:
        """The budget fits `max_batch` whole prompts of the longest length, so whichever requests share a pass
        (at most `max_batch`, each a whole prompt or one decode token) none is split. "prefill_first" puts
        split prompts before decode tokens, and with none split it is first come first served, like Orca;
        the "fifo" scheduler would hold new prompts back while less than 15% of the cache is free (its
        default safety margin), where Orca admits a request whenever its cache fits (it always does here)."""
        longest_prompt = max((len(r.prompt_ids) for r in requests), default=1)
        return {**super().settings(requests), "scheduler_type": "prefill_first", "safety_margin": 0.0,
                "max_batch_tokens": self.max_batch * longest_prompt}
