"""Evaluate a trained run with the paper's protocol: accuracy mean and standard deviation over
10 seeded random regroupings of the held-out split (eval batch 32, consecutive examples form the
groups of N, a partial last group is completed with zero instances), the teacher's accuracy
beside it. Writes metrics.json and predictions.csv.gz (one row per example and regrouping) into
the run directory. Takes the same settings as `train`.

example:
  python -m revmux evaluate --task sst-2 --backbone minilm-l6 --method revmux --n 2 -p 3 --train-size 2000
"""

from __future__ import annotations

import argparse

from revmux.cli.common import add_run_arguments, run_paths

HELP = "evaluate a trained run over random regroupings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from revmux.multiplexing.scoring import accuracy_line, evaluate_run

    config, out, teacher, cache = run_paths(args)
    metrics = evaluate_run(config, out, teacher, cache, device=args.device)
    print(f"{config.run_name}: {accuracy_line(metrics)} -> {out}")
    return 0
