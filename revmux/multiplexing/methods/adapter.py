"""Vanilla adapters: a Linear(d, d) per instance, concatenation, an MLP N*d -> 3d -> d; MLP demux."""

from __future__ import annotations

import torch
from torch import nn

from revmux.multiplexing.methods import METHODS
from revmux.multiplexing.methods.base import Multiplexer, mlp
from revmux.multiplexing.methods.ora import mlp_demux


@METHODS.register
class VanillaAdapter(Multiplexer):
    name = "adapter"

    def __init__(self, hidden_size: int, n: int):
        super().__init__(hidden_size, n)
        self.per_instance = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(n))
        self.merge = mlp([n * hidden_size, 3 * hidden_size, hidden_size])
        self.demux_mlp = mlp_demux(hidden_size, n)

    def mux(self, states):
        projected = torch.stack([layer(states[:, k]) for k, layer in enumerate(self.per_instance)], dim=1)
        self.slot_states = projected
        return self.merge(torch.cat(projected.unbind(dim=1), dim=-1))

    def demux(self, composite):
        return self.demux_mlp(composite).view(-1, self.n, self.hidden_size)
