"""What produced a result: package versions and the machine, recorded in every output."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import revmux


def versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "revmux": revmux.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "transformers": transformers.__version__, "platform": platform.platform(),
    }


def git_commit() -> str | None:
    """The checkout's commit, flagged when tracked files differ from it; None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + (" (with uncommitted changes)" if dirty else "")
