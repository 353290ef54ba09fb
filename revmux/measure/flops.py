"""Floating-point operations of one call, counted by torch's FlopCounterMode (matrix products and
attention; element-wise work such as norms and activations is not counted, as is usual)."""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    # torch counts the GPU attention kernels but not the CPU one; its FLOPs are the same.
    return sdpa_flop_count(query, key, value)


CUSTOM_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention}


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())
