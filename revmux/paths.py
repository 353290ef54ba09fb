"""Where the harness looks for things by default; every default can be overridden."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Cache of fetched assets (model weights, data files): `$REVMUX_RESOURCES` or ./resources."""
    return Path(os.environ.get("REVMUX_RESOURCES", "resources"))


def shared_dir() -> Path:
    """The team's offline assets folder (GLUE files, stories260K): `$REVMUX_SHARED` or ../shared."""
    return Path(os.environ.get("REVMUX_SHARED", PROJECT_ROOT.parent / "shared"))


def default_glue_dir() -> Path:
    """A GLUE directory in the paper's layout: `$REVMUX_GLUE_DIR` or <shared>/data/glue."""
    return Path(os.environ.get("REVMUX_GLUE_DIR", shared_dir() / "data" / "glue"))
