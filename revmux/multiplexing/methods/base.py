"""The multiplexer interface and the small MLP the methods share."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU (and dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Multiplexer(nn.Module):
    """mux: (G, N, T, d) instance states -> (G, T, d) composites; demux: (M, d) -> (M, N, d).

    `slot_states` holds, after each `mux`, the per-slot states just before they are mixed
    (G, N, T, k), which the mapping loss pushes apart; None where a method has no such states.
    """

    name: ClassVar[str]
    multiplexes: ClassVar[bool] = True  # False: N = 1, the backbone unchanged
    needs_divisible_width: ClassVar[bool] = False  # True: d is cut into N equal blocks

    def __init__(self, hidden_size: int, n: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.n = n
        self.slot_states: torch.Tensor | None = None

    def mux(self, states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def demux(self, composite: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
