"""No multiplexing (N = 1): the frozen teacher itself, the reference for every other method."""

from __future__ import annotations

from revmux.multiplexers.base import Multiplexer, register


@register
class Teacher(Multiplexer):
    name = "teacher"
    multiplexes = False

    def mux(self, states):
        return states[:, 0]

    def demux(self, composite):
        return composite.unsqueeze(1)
