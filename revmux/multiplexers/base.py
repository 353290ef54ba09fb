"""The multiplexer interface, the registry, and the small MLP the methods share."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from revmux.errors import RevmuxError

METHODS: dict[str, type["Multiplexer"]] = {}


def register(cls: type["Multiplexer"]) -> type["Multiplexer"]:
    METHODS[cls.name] = cls
    return cls


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
    multiplexes: ClassVar[bool] = True

    def __init__(self, hidden_size: int, n: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.n = n
        self.slot_states: torch.Tensor | None = None

    def mux(self, states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def demux(self, composite: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def check_method(method: str, n: int, hidden_size: int) -> None:
    """Refuse a method/N/d combination before any work, with what to change."""
    if method not in METHODS:
        raise RevmuxError(f"unknown method {method!r}: use one of {', '.join(sorted(METHODS))}")
    cls = METHODS[method]
    if not cls.multiplexes:
        if n != 1:
            raise RevmuxError(f"method {method} does not multiplex: N must be 1, got {n}")
        return
    if n < 2:
        raise RevmuxError(f"method {method} multiplexes N >= 2 instances, got N = {n}; use method teacher for N = 1")
    if getattr(cls, "needs_divisible_width", False) and hidden_size % n:
        raise RevmuxError(
            f"method {method} splits the hidden size {hidden_size} into N = {n} equal blocks: "
            f"choose an N that divides {hidden_size}"
        )


def build_multiplexer(method: str, hidden_size: int, n: int) -> Multiplexer:
    check_method(method, n, hidden_size)
    return METHODS[method](hidden_size, n)
