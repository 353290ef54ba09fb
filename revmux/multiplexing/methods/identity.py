"""No multiplexing (N = 1): the stage-0 teacher run unchanged, the reference for every other method.
Configurations may still call it by its old name, `teacher`."""

from __future__ import annotations

from revmux.multiplexing.methods import METHODS
from revmux.multiplexing.methods.base import Multiplexer


@METHODS.register
class Identity(Multiplexer):
    name = "identity"
    multiplexes = False

    def mux(self, states):
        return states[:, 0]

    def demux(self, composite):
        return composite.unsqueeze(1)
