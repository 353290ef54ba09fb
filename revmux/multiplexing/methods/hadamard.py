"""DataMUX-style mixing: a fixed random Gaussian vector per slot, element-wise product, mean over
slots; demux by N learned key vectors concatenated to the composite state, then an MLP
(MUX-PLMs style). Unlike DataMUX and MUX-PLMs, the backbone stays frozen: only demux trains."""

from __future__ import annotations

import torch
from torch import nn

from revmux.multiplexing.methods import METHODS
from revmux.multiplexing.methods.base import Multiplexer, mlp

KEY_SEED = 0


@METHODS.register
class Hadamard(Multiplexer):
    name = "hadamard"

    def __init__(self, hidden_size: int, n: int):
        super().__init__(hidden_size, n)
        generator = torch.Generator().manual_seed(KEY_SEED)
        self.register_buffer("slot_vectors", torch.randn(n, hidden_size, generator=generator))
        self.keys = nn.Parameter(torch.randn(n, hidden_size, generator=generator) * 0.02)
        self.demux_mlp = mlp([2 * hidden_size, 3 * hidden_size, hidden_size])

    def mux(self, states):
        vectors = self.slot_vectors.view(1, self.n, 1, self.hidden_size).to(states.dtype)
        return (states * vectors).mean(dim=1)

    def demux(self, composite):
        keys = self.keys.unsqueeze(0).expand(composite.shape[0], -1, -1)
        copies = composite.unsqueeze(1).expand(-1, self.n, -1)
        return self.demux_mlp(torch.cat([copies, keys.to(composite.dtype)], dim=-1))
