"""Multiplexing methods, one module per method, registered by name.

Every method has the same interface (`base.Multiplexer`): `mux` turns N instances' states into one
composite, `demux` turns the composite's answer state back into N answer states. Adding a method is
adding one module here with a `Multiplexer` subclass that states its `name` (and traits such as
`multiplexes = False`) and is decorated with `@METHODS.register`. This package's own import needs no torch:
the workflow checks method names and N before any job.

A method name may carry a quantization scheme, `<method>+<scheme>` (revmux.backbones.quantization): the
method's trained model evaluated and timed on the quantized backbone (`identity+int8` is the int8 teacher).
"""

from __future__ import annotations

from revmux.backbones.quantization import SCHEMES, SEPARATOR
from revmux.core.errors import RevmuxError
from revmux.core.registry import Registry

# `teacher` was the name of the N = 1 method; the stage-0 teacher is the model, `identity` the method.
# trains_backbone: the method is its own stage 0 (trained like the teacher), not a multiplexer on the teacher.
METHODS = Registry(
    "method", __name__, defaults={"multiplexes": True, "needs_divisible_width": False, "trains_backbone": False},
    aliases={"teacher": "identity"},
)


def split_method(name: str) -> tuple[str, str | None]:
    """`revmux+int8` -> ("revmux", "int8"); `revmux` -> ("revmux", None). Names are not checked here."""
    base, _, scheme = name.partition(SEPARATOR)
    return base, scheme or None


def canonical_method(name: str) -> str:
    """The registered spelling of a method name (aliases replaced), its quantization scheme checked."""
    base, scheme = split_method(name)
    base = METHODS.canonical(base)
    if scheme is None:
        return base
    if scheme not in SCHEMES:
        raise RevmuxError(f"unknown quantization {scheme!r} in method {name!r}: use <method>+<scheme> with a scheme "
                          f"from {', '.join(SCHEMES)}")
    return f"{base}{SEPARATOR}{scheme}"


def method_traits(name: str) -> dict:
    """The traits of the method a name runs, and its `quantization` (None for the backbone as trained)."""
    base, scheme = split_method(name)
    return {**METHODS.traits(base), "quantization": scheme}


def check_method(method: str, n: int, hidden_size: int) -> None:
    """Refuse a method/N/d combination before any work, with what to change."""
    traits = method_traits(method)
    if traits["trains_backbone"]:
        if n < 1:
            raise RevmuxError(f"method {method}: N must be at least 1, got {n}")
        return
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
    return METHODS.get(split_method(method)[0])(hidden_size, n)


__all__ = ["METHODS", "build_multiplexer", "canonical_method", "check_method", "method_traits", "split_method"]
