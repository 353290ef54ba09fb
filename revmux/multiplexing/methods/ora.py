"""ORA (Only the multiplexer is Reversible): RevMUX's multiplexer with a plain MLP demultiplexer."""

from __future__ import annotations

from revmux.multiplexing.methods import METHODS
from revmux.multiplexing.methods.base import mlp
from revmux.multiplexing.methods.reversible import ReversibleMux


def mlp_demux(hidden_size: int, n: int):
    """d -> 3d -> 3d -> N*d, read as N states of width d (used by ora and adapter)."""
    return mlp([hidden_size, 3 * hidden_size, 3 * hidden_size, n * hidden_size])


@METHODS.register
class ORA(ReversibleMux):
    name = "ora"

    def __init__(self, hidden_size: int, n: int):
        super().__init__(hidden_size, n)
        self.demux_mlp = mlp_demux(hidden_size, n)

    def demux(self, composite):
        return self.demux_mlp(composite).view(-1, self.n, self.hidden_size)
