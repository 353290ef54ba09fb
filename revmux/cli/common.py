"""Arguments several verbs share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core.layout import RESULTS, prefill_dir
from revmux.multiplexing.config import MAPPING_LOSSES, AdapterConfig, DataConfig, defaults
from revmux.multiplexing.methods import METHODS, canonical_method

# The one source of defaults is the config dataclasses; the flags below only read them.
ADAPTER = defaults(AdapterConfig)
DATA = defaults(DataConfig)


def add_resources_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resources", type=Path, default=None, metavar="DIR",
        help="cache of fetched models and data (default: $REVMUX_RESOURCES or ./resources)",
    )


def add_backbone_argument(group) -> None:
    group.add_argument("--backbone", required=True, help="a registered backbone (see `revmux backbones`) or a model directory")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--task", required=True, help="sst-2, rte, qnli, mrpc or rt-polarity")
    group.add_argument("--source", choices=["local", "hub", "wheel"], default=None,
                       help="where the task is read from (default: local GLUE files; wheel for rt-polarity)")
    group.add_argument("--glue-dir", default=None, metavar="DIR",
                       help="GLUE folder (default: $REVMUX_GLUE_DIR or ../shared/data/glue)")
    group.add_argument("--max-length", type=int, default=DATA["max_length"],
                       help=f"tokens per example after truncation (default {DATA['max_length']})")
    group.add_argument("--train-size", type=int, default=None, help="seeded subsample of the training split (default: all)")
    group.add_argument("--validation-size", type=int, default=None, help="subsample of the validation split (default: all)")
    group.add_argument("--eval-size", type=int, default=None, help="subsample of the held-out split (default: all)")
    add_resources_argument(parser)
    parser.add_argument("--results", type=Path, default=Path(RESULTS), metavar="DIR",
                        help="root of the results tree (default: results)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:INDEX] (default: cpu)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    group = parser.add_argument_group("run")
    add_backbone_argument(group)
    group.add_argument("--method", required=True, help=f"one of {', '.join(METHODS.names())} (teacher = identity); "
                       "<method>+int8 (CPU) or +bfloat16/+float16 (GPU): the trained <method> on the quantized backbone")
    group.add_argument("--n", type=int, required=True, help="instances per composite (the paper's compose_size); 1 for teacher")
    group.add_argument("--prefill-layers", "-p", type=int, required=True,
                       help="layers run per instance before multiplexing (the paper's combine_first)")
    group.add_argument("--seed", type=int, default=ADAPTER["seed"])
    group.add_argument("--epochs", type=int, default=ADAPTER["epochs"], help=f"(default {ADAPTER['epochs']}, the paper's)")
    group.add_argument("--batch-size", type=int, default=ADAPTER["batch_size"], help=f"(default {ADAPTER['batch_size']})")
    group.add_argument("--lr", type=float, default=ADAPTER["lr"], help=f"AdamW learning rate (default {ADAPTER['lr']}, the paper's)")
    group.add_argument("--weight-decay", type=float, default=ADAPTER["weight_decay"], help=f"(default {ADAPTER['weight_decay']})")
    group.add_argument("--infonce-weight", type=float, default=ADAPTER["infonce_weight"],
                       help=f"lambda of the InfoNCE term (default {ADAPTER['infonce_weight']}, the paper's)")
    group.add_argument("--mapping-weight", type=float, default=ADAPTER["mapping_weight"],
                       help=f"weight of the mapping loss (default {ADAPTER['mapping_weight']})")
    group.add_argument("--mapping-loss", choices=MAPPING_LOSSES, default=ADAPTER["mapping_loss"],
                       help="released: abs(cos) between slots with two stop-gradient halves averaged, what the released "
                            "code's sign mask aims at; positive-cos: max(cos, 0) with full gradient "
                            f"(default {ADAPTER['mapping_loss']})")
    group.add_argument("--no-reuse-prefill", dest="reuse_prefill", action="store_false",
                       help="recompute layer-P and teacher states every batch instead of caching them (for comparison)")
    group.add_argument("--eval-regroupings", type=int, default=ADAPTER["eval_regroupings"],
                       help=f"(default {ADAPTER['eval_regroupings']})")
    group.add_argument("--eval-batch-size", type=int, default=ADAPTER["eval_batch_size"],
                       help=f"(default {ADAPTER['eval_batch_size']})")
    group.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="run directory (default: <results>/<task>/<backbone>/<method>-n<N>-p<P>-s<seed>)")
    group.add_argument("--teacher-dir", type=Path, default=None, metavar="DIR",
                       help="stage-0 teacher (default: <results>/<task>/<backbone>/stage0-teacher-s<seed>, the same seed)")


def data_config(args: argparse.Namespace):
    from revmux.multiplexing.config import DataConfig

    return DataConfig(
        task=args.task, source=args.source, glue_dir=args.glue_dir,
        resources=str(args.resources) if args.resources else None, max_length=args.max_length,
        train_size=args.train_size, validation_size=args.validation_size, eval_size=args.eval_size,
    )


def run_paths(args: argparse.Namespace):
    """(config, run directory, teacher directory, shared feature cache directory)."""
    from revmux.core.layout import teacher_dir
    from revmux.multiplexing.config import AdapterConfig, run_dir

    config = AdapterConfig(
        data=data_config(args), backbone=args.backbone, method=canonical_method(args.method), n=args.n,
        prefill_layers=args.prefill_layers, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, infonce_weight=args.infonce_weight,
        mapping_weight=args.mapping_weight, mapping_loss=args.mapping_loss, reuse_prefill=args.reuse_prefill,
        eval_regroupings=args.eval_regroupings, eval_batch_size=args.eval_batch_size,
    )
    out = args.out or run_dir(args.results, config)
    teacher = args.teacher_dir or teacher_dir(args.results, args.task, args.backbone, args.seed)
    return config, out, teacher, cache_dir(args)


def cache_dir(args: argparse.Namespace) -> Path:
    return prefill_dir(args.results, args.task, args.backbone, args.seed)
