"""Draw the accuracy-speed figures from the tables `revmux aggregate` wrote, one SVG set per backbone:
<backbone>-accuracy-vs-speedup.svg, -speedup-vs-n.svg, -memory-energy-vs-n.svg, -agreement.svg.

example:
  python -m revmux plots --tables results/tables --out results/plots
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core.layout import PLOTS_DIR, TABLES_DIR, pattern

HELP = "draw accuracy-speedup, speedup-N, memory/energy and agreement figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", type=Path, default=Path(pattern(TABLES_DIR)), metavar="DIR",
                        help=f"where summary.csv and speed.csv are (default: {pattern(TABLES_DIR)})")
    parser.add_argument("--out", type=Path, default=Path(pattern(PLOTS_DIR)), metavar="DIR",
                        help=f"(default: {pattern(PLOTS_DIR)})")
    parser.add_argument("--backbone", action="append", default=None,
                        help="draw only this backbone (repeatable; default: every backbone in the summary)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from revmux.core.errors import RevmuxError
    from revmux.analysis.plots import draw_all

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
    written = draw_all(summary, tables["speed"], backbones, args.out)
    print(f"wrote {len(written)} figures -> {args.out}")
    return 0
