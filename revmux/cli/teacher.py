"""Stage 0: make the frozen teacher for one task and backbone.

Modes: encoders `full` (fine-tune everything, the paper's BERT setting) or `head` (train only the
classifier); decoders `zero-shot` (label words, the paper's LLaMA setting) or `head`; T5 `prompt`
(tune a soft prompt, the paper's setting) or `zero-shot`. The model with the best accuracy on the
validation split (carved from the training data) is kept; its held-out accuracy is reported.
Writes <results>/<task>/<backbone>/stage0-teacher/{teacher.safetensors,teacher.json}.

example:
  python -m revmux teacher --task sst-2 --backbone minilm-l6 --mode full --epochs 2 --train-size 2000
"""

from __future__ import annotations

import argparse

from revmux.cli.common import add_backbone_argument, add_data_arguments, data_config
from revmux.backbones.registry import DTYPE_CHOICES
from revmux.multiplexing.config import TeacherConfig, defaults

TEACHER = defaults(TeacherConfig)

HELP = "stage 0: fine-tune / prompt-tune the frozen teacher"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    add_backbone_argument(parser)
    parser.add_argument("--mode", default=None, choices=["full", "head", "zero-shot", "prompt"],
                        help="default: the paper's for the family (full / zero-shot / prompt)")
    parser.add_argument("--epochs", type=int, default=TEACHER["epochs"], help=f"(default {TEACHER['epochs']})")
    parser.add_argument("--batch-size", type=int, default=TEACHER["batch_size"], help=f"(default {TEACHER['batch_size']})")
    parser.add_argument("--lr", type=float, default=None, help="default: 1e-4 full, 1e-3 head, 0.3 prompt (Adafactor)")
    parser.add_argument("--prompt-length", type=int, default=TEACHER["prompt_length"],
                        help=f"soft prompt tokens (T5 prompt mode; default {TEACHER['prompt_length']})")
    parser.add_argument("--seed", type=int, default=TEACHER["seed"])
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default=TEACHER["dtype"],
                        help="what the frozen backbone computes in, here and in every later stage (prefill, train, "
                             "evaluate follow the teacher); auto: bfloat16 for LLaMA-family backbones on a GPU, "
                             "float32 otherwise (default auto)")
    parser.add_argument("--out", default=None, help="default: <results>/<task>/<backbone>/stage0-teacher")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from revmux.core.layout import teacher_dir
    from revmux.multiplexing.config import TeacherConfig
    from revmux.multiplexing.stage0 import train_teacher

    config = TeacherConfig(
        data=data_config(args), backbone=args.backbone, mode=args.mode, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, prompt_length=args.prompt_length, seed=args.seed, dtype=args.dtype,
    )
    out = Path(args.out) if args.out else teacher_dir(args.results, args.task, args.backbone)
    info = train_teacher(config, out, device=args.device)
    print(f"teacher ({info['mode']}, {info['backbone_provenance']}): validation accuracy {info['validation_accuracy']:.4f} "
          f"(epoch {info['selected_epoch']}), held-out accuracy {info['eval_accuracy']:.4f} -> {out}")
    return 0
