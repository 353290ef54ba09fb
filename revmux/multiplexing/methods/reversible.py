"""RevMUX: a reversible multiplexer and the reverse demultiplexer that reuses its functions.

Each instance is projected down to width n = d / N; an additive coupling mixes the N slots
(u0' = u0 + F0(u_{N-1}); u_k' = u_k + F_k(u_{k-1}') for k >= 1), and the N blocks of width n are
laid side by side into one d-wide composite. Demux splits the composite into the same blocks,
undoes the couplings in reverse order with the same F_k, and projects each slot back up to d.
With the backbone's middle replaced by the identity, demux recovers every instance exactly, for
every N >= 2 (the released code interleaves on one side and splits blocks on the other; here both
sides use one block layout).
"""

from __future__ import annotations

import torch
from torch import nn

from revmux.multiplexing.methods import METHODS
from revmux.multiplexing.methods.base import Multiplexer, mlp

COUPLING_DROPOUT = 0.1


class AdditiveCoupling(nn.Module):
    """An invertible map of N slot tensors; F_k: n -> d -> n."""

    def __init__(self, width: int, hidden_size: int, n: int, dropout: float = COUPLING_DROPOUT):
        super().__init__()
        self.functions = nn.ModuleList(mlp([width, hidden_size, width], dropout) for _ in range(n))

    def forward(self, slots: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [slots[0] + self.functions[0](slots[-1])]
        for k in range(1, len(slots)):
            mixed.append(slots[k] + self.functions[k](mixed[k - 1]))
        return mixed

    def inverse(self, mixed: list[torch.Tensor]) -> list[torch.Tensor]:
        slots = [None] * len(mixed)
        for k in range(len(mixed) - 1, 0, -1):
            slots[k] = mixed[k] - self.functions[k](mixed[k - 1])
        slots[0] = mixed[0] - self.functions[0](slots[-1])
        return slots


class ReversibleMux(Multiplexer):
    """The multiplexing half shared by revmux and ora: down-projection, coupling, block layout."""

    needs_divisible_width = True

    def __init__(self, hidden_size: int, n: int):
        super().__init__(hidden_size, n)
        self.width = hidden_size // n
        self.down = nn.Linear(hidden_size, self.width)
        self.coupling = AdditiveCoupling(self.width, hidden_size, n)

    def combine(self, reduced: torch.Tensor) -> torch.Tensor:
        """(G, N, T, n) down-projected slots -> (G, T, d) composite, slot k in block k."""
        mixed = self.coupling(list(reduced.unbind(dim=1)))
        return torch.cat(mixed, dim=-1)

    def mux(self, states: torch.Tensor) -> torch.Tensor:
        reduced = self.down(states)
        self.slot_states = reduced
        return self.combine(reduced)


@METHODS.register
class RevMUX(ReversibleMux):
    name = "revmux"

    def __init__(self, hidden_size: int, n: int):
        super().__init__(hidden_size, n)
        self.up = mlp([self.width, 3 * hidden_size, 3 * hidden_size, hidden_size])

    def separate(self, composite: torch.Tensor) -> torch.Tensor:
        """(M, d) composite -> (M, N, n) slots: split the blocks, undo the coupling."""
        return torch.stack(self.coupling.inverse(list(composite.split(self.width, dim=-1))), dim=1)

    def demux(self, composite: torch.Tensor) -> torch.Tensor:
        return self.up(self.separate(composite))
