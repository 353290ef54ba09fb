"""Show a task's splits from one source: rows, label balance and the sha256 of each split's
examples (equal hashes from two sources mean identical examples).

Splits: train and validation (carved from the training data with a fixed seed; model selection
uses validation), the held-out evaluation split (GLUE: dev; rt-polarity: test) and, for GLUE, the
unlabelled test split when present.

examples:
  python -m revmux data sst-2                            # GLUE files in ../shared/data/glue
  python -m revmux data rte --glue-dir /data/glue
  python -m revmux data mrpc --source hub                # nyu-mll/glue through `datasets`
  python -m revmux data rt-polarity                      # after `revmux fetch rt-polarity`
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.cli.common import add_resources_argument
from revmux.data import known_tasks, load_task, summarize

HELP = "print split sizes, label balance and hashes of a task"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=known_tasks(), help="task name")
    parser.add_argument(
        "--source", choices=["local", "hub", "wheel"], default=None,
        help="where to read the task from (default: local GLUE files; wheel for rt-polarity)",
    )
    parser.add_argument(
        "--glue-dir", type=Path, default=None, metavar="DIR",
        help="GLUE folder with {SST-2,RTE,QNLI,MRPC}/{train,dev,test}.tsv "
        "(default: $REVMUX_GLUE_DIR or ../shared/data/glue)",
    )
    add_resources_argument(parser)


def run(args: argparse.Namespace) -> int:
    data = load_task(args.task, args.source, args.glue_dir, args.resources)
    print(f"{data.task.name}: {data.task.description}")
    print(f"source: {data.source}; held-out evaluation split: {data.task.eval_split}")
    print(summarize(data.splits, data.task.label_names).to_string(index=False))
    return 0
