"""Compute the shared layer-P states and teacher answer states of a task's train, validation and
held-out splits for one backbone and P, into <results>/<task>/<backbone>/prefill-cache-s<seed>/p<P>-len<L>/.
Every method, N and epoch of that seed then reads them instead of recomputing the frozen layers. `train`
and `evaluate` compute missing files themselves; this verb lets a workflow do it once up front.

example:
  python -m revmux prefill --task sst-2 --backbone minilm-l6 -p 3 --train-size 2000
"""

from __future__ import annotations

import argparse

from revmux.cli.common import add_backbone_argument, add_data_arguments, cache_dir, data_config
from revmux.multiplexing.config import TeacherConfig, defaults

TEACHER = defaults(TeacherConfig)

HELP = "compute the shared layer-P and teacher-state cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    add_backbone_argument(parser)
    parser.add_argument("--prefill-layers", "-p", type=int, required=True, help="the paper's combine_first")
    parser.add_argument("--seed", type=int, default=TEACHER["seed"],
                        help=f"whose stage-0 teacher to read: every seed has its own (default {TEACHER['seed']})")
    parser.add_argument("--teacher-dir", default=None, help="default: <results>/<task>/<backbone>/stage0-teacher-s<seed>")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from revmux.core.layout import teacher_dir
    from revmux.multiplexing.config import AdapterConfig, validate_adapter
    from revmux.multiplexing.train import build_model, run_features

    # The cache does not depend on the method: describe it as the teacher's run.
    config = AdapterConfig(data=data_config(args), backbone=args.backbone, method="identity", n=1,
                           prefill_layers=args.prefill_layers)
    validate_adapter(config)
    teacher = Path(args.teacher_dir) if args.teacher_dir else teacher_dir(args.results, args.task, args.backbone, args.seed)
    model, _ = build_model(config, teacher, args.device)
    _, features, _, _, timings = run_features(config, model, teacher, cache_dir(args))
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.1f} s")
    print(f"{sum(len(f) for f in features.values())} examples cached in {cache_dir(args)}")
    return 0
