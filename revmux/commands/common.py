"""Arguments several verbs share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_resources_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resources", type=Path, default=None, metavar="DIR",
        help="cache of fetched models and data (default: $REVMUX_RESOURCES or ./resources)",
    )
