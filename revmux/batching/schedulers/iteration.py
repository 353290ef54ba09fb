"""Orca-style iteration-level scheduling as BATON describes it, on the shared padded cache: requests join
at the next iteration, their prefill runs in the same forward pass as the running rows' decode (each
running row's query padded to the longest new prompt, and those padded columns stay in its cache), and
finished requests leave at once."""

from __future__ import annotations

from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.base import Scheduler


@SCHEDULERS.register
class Iteration(Scheduler):
    name = "iteration"
    compact = False  # keep the running rows' padded query columns in the cache

    def join(self, newcomers):
        return self.engine.joint_step(self.batch, newcomers, compact=self.compact)
