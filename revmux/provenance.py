"""What produced a result: package versions and the machine, recorded in every output."""

from __future__ import annotations

import platform
import sys

import revmux


def versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "revmux": revmux.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "transformers": transformers.__version__, "platform": platform.platform(),
    }
