"""`python -m revmux <verb>`: one command line for every step, so each can be run and debugged by hand."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from revmux import __version__
from revmux.errors import RevmuxError

# verb -> module under revmux.commands with `help`, `add_arguments(parser)` and `run(args) -> int`.
VERBS = ["fetch", "backbones", "data", "teacher", "prefill", "train", "evaluate", "profile", "aggregate", "plots"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revmux",
        description="RevMUX reproducibility harness: data multiplexing with reversible adapters on frozen backbones.",
    )
    parser.add_argument("--version", action="version", version=f"revmux {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch (default: torch's choice); fixes results across machines")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        module = importlib.import_module(f"revmux.commands.{verb}")
        sub = subparsers.add_parser(
            verb, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s",
    )
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.run(args)
    except RevmuxError as error:
        print(f"revmux {args.verb}: error: {error}", file=sys.stderr)
        return 2
