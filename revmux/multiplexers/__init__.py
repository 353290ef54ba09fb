"""Multiplexers, one module per method, registered by name.

Every method has the same interface: `mux` turns N instances' states into one composite,
`demux` turns the composite's answer state back into N answer states. Adding a method is adding
one module that subclasses `Multiplexer` and calls `register`.
"""

from revmux.multiplexers.base import METHODS, Multiplexer, build_multiplexer, check_method

# Importing the modules registers the methods.
from revmux.multiplexers import adapter, hadamard, ora, reversible, teacher  # noqa: E402,F401

__all__ = ["METHODS", "Multiplexer", "build_multiplexer", "check_method"]
