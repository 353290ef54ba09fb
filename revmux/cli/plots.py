"""Draw the accuracy-speed figures from the tables `revmux aggregate` wrote, and the training curves from
the runs' history.json, one SVG set per backbone: <backbone>-accuracy-vs-speedup.svg, -speedup-vs-n.svg,
-memory-energy-vs-n.svg, -agreement.svg, -training-curves.svg.

The workflow passes exactly its grid's history files (--history ...); without them, every run's
history.json under the results folder is read (by hand).

examples:
  python -m revmux plots --tables results/tables --out results/plots
  python -m revmux plots --history results/rt-polarity/minilm-l6/revmux-n*-p3-s*/history.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core.layout import HISTORY, PLOTS_DIR, RUN_DIR, TABLES_DIR, glob_of, pattern

HELP = "draw accuracy-speedup, speedup-N, memory/energy, agreement and training-curve figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", type=Path, default=Path(pattern(TABLES_DIR)), metavar="DIR",
                        help=f"where summary.csv and speed.csv are (default: {pattern(TABLES_DIR)})")
    parser.add_argument("--out", type=Path, default=Path(pattern(PLOTS_DIR)), metavar="DIR",
                        help=f"(default: {pattern(PLOTS_DIR)})")
    parser.add_argument("--backbone", action="append", default=None,
                        help="draw only this backbone (repeatable; default: every backbone in the summary)")
    parser.add_argument("--history", type=Path, nargs="*", default=None, metavar="FILE",
                        help="the runs' history.json files the training curves are drawn from")
    parser.add_argument("--results", type=Path, default=None, metavar="DIR",
                        help="without --history: every run's history.json under DIR (default: the folder --tables is in)")


def read_histories(paths: list[Path]) -> list[dict]:
    import json

    from revmux.core.errors import RevmuxError

    histories = []
    for path in paths:
        try:
            history = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise RevmuxError(f"{path}: unreadable training history ({error}); rerun its training job") from None
        missing = [key for key in ("config", "history", "selected_epoch") if key not in history]
        if missing:
            raise RevmuxError(f"{path}: not a `revmux train` history (no {', '.join(missing)}); rerun its training job")
        histories.append(history)
    return histories


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from revmux.core.errors import RevmuxError
    from revmux.analysis.plots import draw_all, history_table

    tables = {}
    for name in ("summary", "speed"):
        path = args.tables / f"{name}.csv"
        if not path.is_file():
            raise RevmuxError(f"{path} is missing: run `python -m revmux aggregate` first")
        try:
            tables[name] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            tables[name] = pd.DataFrame()
    summary = tables["summary"]
    backbones = args.backbone or list(dict.fromkeys(summary["backbone"]))
    unknown = sorted(set(backbones) - set(summary["backbone"]))
    if unknown:
        raise RevmuxError(f"no results for backbone {', '.join(unknown)} in {args.tables / 'summary.csv'}: "
                          f"choose from {', '.join(sorted(set(summary['backbone'])))}")
    results = args.results or args.tables.parent  # aggregate writes <results>/tables
    paths = args.history if args.history is not None else sorted(results.glob(glob_of(f"{RUN_DIR}/{HISTORY}")))
    histories = history_table(read_histories(paths))
    written = draw_all(summary, tables["speed"], histories, backbones, args.out)
    print(f"wrote {len(written)} figures -> {args.out}")
    return 0
