"""Multiplexing methods, one module per method, registered by name.

Every method has the same interface (`base.Multiplexer`): `mux` turns N instances' states into one
composite, `demux` turns the composite's answer state back into N answer states. Adding a method is
adding one module here with a `Multiplexer` subclass that states its `name` (and traits such as
`multiplexes = False`) and is decorated with `@METHODS.register`. This package's own import needs no torch:
the workflow checks method names and N before any job.
"""

from __future__ import annotations

from revmux.core.errors import RevmuxError
from revmux.core.registry import Registry

# `teacher` was the name of the N = 1 method; the stage-0 teacher is the model, `identity` the method.
METHODS = Registry(
    "method", __name__, defaults={"multiplexes": True, "needs_divisible_width": False}, aliases={"teacher": "identity"},
)


def check_method(method: str, n: int, hidden_size: int) -> None:
    """Refuse a method/N/d combination before any work, with what to change."""
    traits = METHODS.traits(method)
    if not traits["multiplexes"]:
        if n != 1:
            raise RevmuxError(f"method {method} does not multiplex: N must be 1, got {n}")
        return
    if n < 2:
        raise RevmuxError(f"method {method} multiplexes N >= 2 instances, got N = {n}; use method identity for N = 1")
    if traits["needs_divisible_width"] and hidden_size % n:
        raise RevmuxError(
            f"method {method} splits the hidden size {hidden_size} into N = {n} equal blocks: "
            f"choose an N that divides {hidden_size}"
        )


def build_multiplexer(method: str, hidden_size: int, n: int):
    check_method(method, n, hidden_size)
    return METHODS.get(method)(hidden_size, n)


__all__ = ["METHODS", "build_multiplexer", "check_method"]
