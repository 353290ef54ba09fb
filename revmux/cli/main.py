"""`python -m revmux <verb>`: one command line for every step, so each can be run and debugged by hand."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from revmux import __version__
from revmux.core.errors import RevmuxError
from revmux.core import progress

# track -> its verbs; each verb is a module under revmux.cli with HELP, `add_arguments(parser)` and `run(args) -> int`.
TRACKS = {
    "assets shared by every track": ["fetch", "backbones", "data"],
    "multiplexing": ["teacher", "prefill", "train", "evaluate", "speed"],
    "generation batching": ["trace", "serve", "serve-report"],
    "caching and model selection": ["cache-suite", "cache-replay", "cache-pair", "cache-report"],
    "analysis and report": ["aggregate", "plots"],
}
VERBS = [verb for verbs in TRACKS.values() for verb in verbs]


def add_global_arguments(parser, after_verb: bool = False) -> None:
    """Options of every verb, accepted before or after it (`revmux --threads 2 train` or `revmux train --threads 2`).
    After the verb they default to SUPPRESS, so one not given there leaves the value given before it."""
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if after_verb else False,
                        help="log debugging detail")
    parser.add_argument("--threads", type=positive_int, default=argparse.SUPPRESS if after_verb else None, metavar="N",
                        help="CPU threads for torch (default: torch's choice); fixes results across machines")


def positive_int(text: str) -> int:
    """argparse type: torch refuses 0 or fewer threads with a traceback; say it at the command line instead."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of threads")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revmux",
        description="RevMUX reproducibility harness: data multiplexing with reversible adapters on frozen backbones.",
    )
    parser.add_argument("--version", action="version", version=f"revmux {__version__}")
    add_global_arguments(parser)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = []
    for track, verbs in TRACKS.items():
        listing.append(f"{track}:")
        for verb in verbs:
            module = importlib.import_module(f"revmux.cli.{verb.replace('-', '_')}")
            listing.append(f"  {verb:<11} {module.HELP}")
            # No `help=`: argparse would list the verbs in one flat group; the epilog lists them by track.
            sub = subparsers.add_parser(
                verb, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            module.add_arguments(sub)
            add_global_arguments(sub.add_argument_group("global options (also accepted before the verb)"), after_verb=True)
            sub.set_defaults(run=module.run)
    parser.epilog = "verbs, by track (`revmux VERB --help` for each):\n" + "\n".join(listing)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "progress", True):  # a verb's --no-progress reaches the libraries' bars too
        progress.switch_off()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.run(args)
    except RevmuxError as error:
        print(f"revmux {args.verb}: error: {error}", file=sys.stderr)
        return 2
