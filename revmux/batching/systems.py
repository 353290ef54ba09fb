"""Every system the generation track serves with: the schedulers and the anchors, by name. Torch-free
(names are read from the modules' source), so configurations are checked before any job."""

from __future__ import annotations

from revmux.batching.anchors import ANCHORS
from revmux.batching.schedulers import SCHEDULERS
from revmux.core.errors import RevmuxError


def system_names() -> list[str]:
    return SCHEDULERS.names() + ANCHORS.names()


def check_system(name: str) -> str:
    if name not in system_names():
        raise RevmuxError(f"unknown system {name!r}: use one of {', '.join(system_names())}")
    return name


def system_class(name: str):
    check_system(name)
    return SCHEDULERS.get(name) if name in SCHEDULERS.entries else ANCHORS.get(name)


def system_label(name: str) -> str:
    """What the system is, for tables: an anchor's own label, or the scheduler's name."""
    check_system(name)
    return ANCHORS.traits(name).get("label", name) if name in ANCHORS.entries else f"{name} (this harness)"
