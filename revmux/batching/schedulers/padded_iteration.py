"""Iteration-level scheduling on a padded cache, as padded engines did it (TGI's first `CausalLMBatch`):
requests join at the next iteration and their prefill runs in the same forward pass as the running rows'
decode, each running row's one query token left-padded to the longest new prompt, and those padded columns
stay in its cache for the rest of its life; finished requests leave at once. This is not Orca: Orca's
selective batching pads nothing (see `orca`)."""

from __future__ import annotations

from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.base import Scheduler


@SCHEDULERS.register
class PaddedIteration(Scheduler):
    name = "padded-iteration"
    compact = False  # keep the running rows' padded query columns in the cache

    def join(self, newcomers):
        return self.engine.joint_step(self.batch, newcomers, compact=self.compact)
