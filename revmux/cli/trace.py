"""Make a seeded request trace from real text for one tokenizer: prompts of log-uniformly spread lengths
cut from consecutive sentences of a task's training split, fixed output lengths from a wide log-uniform
range, and arrival times (Poisson at --rate requests/s, or all at once: offline). The traces of one seed
hold the same requests at every rate; only the arrival times scale.

Writes TRACE.csv (request, arrival_s, prompt_ids, output_tokens, text) and TRACE.json (how it was made).

example:
  python -m revmux trace --backbone smollm2-135m --arrivals poisson --rate 0.5 --out traces/r0.5.csv
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from revmux.batching.config import TraceSettings
from revmux.cli.common import add_resources_argument

HELP = "make a seeded request trace from real text"


def measured_capacity(path: Path) -> float:
    """Requests/s of a finished `revmux serve` run."""
    import json

    from revmux.core.errors import RevmuxError

    try:
        result = json.loads(Path(path).read_text())
        capacity = float(result["summary"]["requests_per_s"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RevmuxError(f"{path}: not a finished `revmux serve` result ({error}); rerun the capacity run") from None
    if not capacity > 0:
        raise RevmuxError(f"{path}: capacity {capacity} requests/s is not positive")
    return capacity
DEFAULTS = TraceSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default=DEFAULTS.backbone, help=f"whose tokenizer (default {DEFAULTS.backbone})")
    parser.add_argument("--task", default=DEFAULTS.task, help=f"sentences from this task's training split (default {DEFAULTS.task})")
    parser.add_argument("--requests", type=int, default=DEFAULTS.requests, help=f"default {DEFAULTS.requests}")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"default {DEFAULTS.seed}")
    parser.add_argument("--arrivals", choices=["poisson", "offline"], default=DEFAULTS.arrivals,
                        help="poisson (needs --rate) or offline: everything at t = 0 (default)")
    parser.add_argument("--rate", type=float, default=DEFAULTS.rate, help="requests per second (poisson)")
    parser.add_argument("--load", type=float, default=None, metavar="F",
                        help="poisson at F x the capacity measured in --capacity-from (instead of --rate)")
    parser.add_argument("--capacity-from", type=Path, default=None, metavar="RESULT",
                        help="a `revmux serve` result (e.g. static batching, offline): its requests/s is the capacity")
    parser.add_argument("--prompt-tokens", type=int, nargs=2, metavar=("MIN", "MAX"),
                        default=(DEFAULTS.min_prompt_tokens, DEFAULTS.max_prompt_tokens),
                        help=f"prompt length range (default {DEFAULTS.min_prompt_tokens} {DEFAULTS.max_prompt_tokens})")
    parser.add_argument("--output-tokens", type=int, nargs=2, metavar=("MIN", "MAX"),
                        default=(DEFAULTS.min_output_tokens, DEFAULTS.max_output_tokens),
                        help=f"output length range (default {DEFAULTS.min_output_tokens} {DEFAULTS.max_output_tokens})")
    add_resources_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="the trace CSV to write")


def run(args: argparse.Namespace) -> int:
    from revmux.backbones import resolve_backbone
    from revmux.backbones.load import load_tokenizer
    from revmux.core.errors import RevmuxError
    from revmux.data import load_task
    from revmux.workloads.generate import make_requests
    from revmux.workloads.traces import write_trace

    capacity = None
    if args.load is not None:
        if args.capacity_from is None or args.rate is not None:
            raise RevmuxError("--load needs --capacity-from (and no --rate): the rate is load x measured capacity")
        if args.load <= 0:
            raise RevmuxError(f"--load {args.load} must be > 0")
        capacity = measured_capacity(args.capacity_from)
        args.arrivals, args.rate = "poisson", args.load * capacity
    if args.arrivals == "poisson" and (args.rate is None or args.rate <= 0):
        raise RevmuxError(f"--arrivals poisson needs --rate > 0 (requests/s), got {args.rate}")
    spec = resolve_backbone(args.backbone)
    tokenizer = load_tokenizer(spec, args.resources)
    sentences = load_task(args.task).splits["train"]["text_a"].astype(str).tolist()
    requests, texts = make_requests(
        lambda text: tokenizer(text, add_special_tokens=False)["input_ids"], sentences, args.requests, args.seed,
        args.arrivals, args.rate, tuple(args.prompt_tokens), tuple(args.output_tokens),
    )
    settings = TraceSettings(args.backbone, args.task, args.requests, args.seed, args.arrivals, args.rate,
                             *args.prompt_tokens, *args.output_tokens)
    write_trace(args.out, requests, texts, {"settings": asdict(settings), "tokenizer": spec.name,
                                            "sentences": f"{args.task} training split",
                                            "load": args.load, "capacity_requests_per_s": capacity})
    print(f"{len(requests)} requests -> {args.out}")
    return 0
