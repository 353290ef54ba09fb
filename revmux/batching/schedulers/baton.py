"""BATON: newcomers join at the next iteration; they are prefilled in a pass of their own, then their
keys/values are left-padded and spliced into the running batch's cache with a rebuilt attention mask
(position ids follow from the mask); finished rows leave the cache at once."""

from __future__ import annotations

from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.base import Scheduler


@SCHEDULERS.register
class Baton(Scheduler):
    name = "baton"

    def join(self, newcomers):
        return self.engine.splice(self.batch, self.engine.prefill(newcomers))
