"""Ablation: BATON's vector shaping without its separate prefill. Newcomers are prefilled in the running
batch's pass (the running rows still idle through it), but the result is re-laid out afterwards, so the
running rows carry no padded query columns in their cache."""

from __future__ import annotations

from revmux.batching.schedulers import SCHEDULERS
from revmux.batching.schedulers.padded_iteration import PaddedIteration


@SCHEDULERS.register
class BatonNoSplit(PaddedIteration):
    name = "baton-no-split"
    compact = True
