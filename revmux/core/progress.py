"""Progress bars on a terminal only.

A job's log (stdout and stderr redirected by a workflow rule) is read after the fact, where a bar is thousands of
carriage-return updates run together. So bars are drawn only when stderr is a terminal; a job log gets instead the
one line per epoch or stage that each step logs with its numbers. A verb's --no-progress turns bars off even on a
terminal, the libraries' own bars (transformers' "Loading weights") included.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

_switched_off = False


def switch_off() -> None:
    """No bar for the rest of the process, even on a terminal (a verb's --no-progress)."""
    global _switched_off
    _switched_off = True


def bars_shown(requested: bool = True) -> bool:
    """Whether a bar is drawn: asked for, not switched off, and stderr a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)  # stderr is None under pythonw, and a stand-in may lack isatty
    return requested and not _switched_off and isatty is not None and isatty()


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs) -> tqdm:
    """tqdm, drawn only where `bars_shown(enabled)`; `enabled`: the caller's own progress setting."""
    return tqdm(iterable, disable=not bars_shown(enabled), **kwargs)


def quiet_library_bars() -> None:
    """Give transformers' bars (and huggingface_hub's, which its switch turns off too) the same rule.

    Their switch is process-wide and is only ever turned off here, never on: a user's HF_HUB_DISABLE_PROGRESS_BARS
    keeps its effect on a terminal.
    """
    if not bars_shown():
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        import datasets  # its own switch: the hub's GLUE files are read through load_dataset

        datasets.disable_progress_bars()
