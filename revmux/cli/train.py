"""Train one multiplexer (method, N, P, seed) on the frozen stage-0 teacher.

Layer-P states and teacher answer states are computed once per (task, backbone, P, max length,
examples) into <results>/<task>/<backbone>/prefill-cache-s<seed>/ and reused by every method, N and
epoch. A checkpoint is written after every epoch; rerunning an interrupted run resumes it. The
adapter with the best validation accuracy is kept in the run directory.

example:
  python -m revmux train --task sst-2 --backbone minilm-l6 --method revmux --n 2 -p 3 --train-size 2000
"""

from __future__ import annotations

import argparse

from revmux.cli.common import add_run_arguments, run_paths

HELP = "train a multiplexer on the frozen teacher"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from revmux.multiplexing.train import train_adapter

    config, out, teacher, cache = run_paths(args)
    summary = train_adapter(config, out, teacher, cache, device=args.device)
    print(f"{config.run_name}: selected epoch {summary['selected_epoch']}, validation accuracy "
          f"{summary['validation_accuracy']:.4f}, {summary['trainable_parameters']} trainable parameters -> {out}")
    return 0
