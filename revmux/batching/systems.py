"""Every system the generation track serves with: the schedulers and the anchors, by name. Torch-free
(names are read from the modules' source), so configurations are checked before any job."""

from __future__ import annotations

import re

from revmux.batching.anchors import ANCHORS
from revmux.batching.schedulers import SCHEDULERS
from revmux.core.errors import RevmuxError

# A variant is a system with its own batching settings in its name, so a sweep's runs sit side by side
# under distinct names: static-t0.5-b8 is `static` with a 0.5 s timeout and at most 8 requests per batch.
_VARIANT = re.compile(r"^(?P<base>.+?)(?:-t(?P<timeout>\d+(?:\.\d+)?))?(?:-b(?P<max_batch>\d+))?$")


def system_names() -> list[str]:
    return SCHEDULERS.names() + ANCHORS.names()


def split_variant(name: str) -> tuple[str, dict]:
    """The registered system a name runs and the settings its name fixes: "static-t0.5-b8" ->
    ("static", {"timeout_s": 0.5, "max_batch": 8}); a plain name -> (name, {})."""
    if name in system_names():
        return name, {}
    match = _VARIANT.match(name)
    if match is None or match["base"] not in system_names() or (match["timeout"] is None and match["max_batch"] is None):
        raise RevmuxError(f"unknown system {name!r}: use one of {', '.join(system_names())}, optionally with "
                          "-t<timeout seconds> and/or -b<max batch> (e.g. static-t0.5-b8)")
    overrides = {}
    if match["timeout"] is not None:
        overrides["timeout_s"] = float(match["timeout"])
    if match["max_batch"] is not None:
        overrides["max_batch"] = int(match["max_batch"])
    return match["base"], overrides


def variant_name(system: str, timeout_s: float, max_batch: int) -> str:
    """The name that fixes a system's settings: the inverse of `split_variant`."""
    return f"{system}-t{timeout_s:g}-b{max_batch}"


def check_system(name: str) -> str:
    split_variant(name)
    return name


def system_class(name: str):
    base, _ = split_variant(name)
    return SCHEDULERS.get(base) if base in SCHEDULERS.entries else ANCHORS.get(base)


def system_label(name: str) -> str:
    """What the system is, for tables: an anchor's own label, or the scheduler's name (with a variant's settings)."""
    base, overrides = split_variant(name)
    label = ANCHORS.traits(base).get("label", base) if base in ANCHORS.entries else f"{base} (this harness)"
    settings = []
    if "timeout_s" in overrides:
        settings.append(f"timeout {overrides['timeout_s']:g} s")
    if "max_batch" in overrides:
        settings.append(f"max batch {overrides['max_batch']}")
    return f"{label}, {', '.join(settings)}" if settings else label
