"""How a `--configfile` or `--config` overlays config/config.yaml: Snakemake's deep merge, except for the
mappings whose keys name members of the grid, which an overlay replaces whole."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

# A deep merge unions mappings. For these, whose keys *are* the grid (a backbone trained, a shape timed, a
# pair replayed), a union would run the default's members beside the overlay's: config/paper.yaml would
# train minilm-l6 too. An overlay that sets one of them therefore replaces its members, each with the
# settings the overlay gives it. Every other mapping (data, training, speed...) merges key by key.
GRID_MEMBER_KEYS = ("backbones", "speed.shapes", "caching.pairs")


def replace_grid_members(config: dict, overlays: Sequence[Mapping]) -> None:
    """Set each grid-member mapping of `config` (already deep-merged) to the one of the last overlay, in
    Snakemake's order (--configfile files, then --config), that sets it; left as merged where none does."""
    for key in GRID_MEMBER_KEYS:
        *parents, name = key.split(".")
        for overlay in reversed(overlays):
            block = overlay
            for parent in parents:
                block = block.get(parent) if isinstance(block, Mapping) else None
            if isinstance(block, Mapping) and name in block:
                target = config
                for parent in parents:
                    target = target.get(parent) if isinstance(target, dict) else None
                if isinstance(target, dict):  # else a later overlay made a parent no mapping: the schema says so
                    target[name] = copy.deepcopy(block[name])
                break
