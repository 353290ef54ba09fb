"""Stage 0: make the frozen teacher for one task and backbone.

Modes: encoders `full` (fine-tune everything, the paper's BERT setting) or `head` (train only the
classifier); decoders `zero-shot` (label words, the paper's LLaMA setting) or `head`; T5 `prompt`
(tune a soft prompt, the paper's setting) or `zero-shot`. The model with the best accuracy on the
validation split (carved from the training data) is kept; its held-out accuracy is reported.
Writes <results>/<task>/<backbone>/stage0-teacher-s<seed>/{teacher.safetensors,teacher.json}.

With --truncate N P it makes the `truncate` run instead (an alternative to multiplexing): the same recipe on
the backbone's first k layers, k the depth whose counted FLOPs per sample match RevMUX's with N instances per
composite at P (N = 1: k = P), written into that run's directory. With --start-from and a fully fine-tuned
teacher, the truncation starts from that teacher's first k layers and its head, the point the multiplexers
start from too (the workflow does this wherever the teacher is fully fine-tuned).

example:
  python -m revmux teacher --task sst-2 --backbone minilm-l6 --mode full --epochs 2 --train-size 2000
  python -m revmux teacher --task sst-2 --backbone minilm-l6 --epochs 2 --train-size 2000 --truncate 2 3 \
      --start-from results/sst-2/minilm-l6/stage0-teacher-s0
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
    parser.add_argument("--truncate", type=int, nargs=2, default=None, metavar=("N", "P"),
                        help="train the truncated model of run truncate-n<N>-p<P>: the depth matching RevMUX at N and P "
                             "in counted FLOPs (N = 1: P layers)")
    parser.add_argument("--start-from", default=None, metavar="TEACHER_DIR",
                        help="with --truncate and --mode full: start from this fully fine-tuned teacher's first layers "
                             "and head (its stage-0 directory) instead of the pretrained backbone and a new head")
    parser.add_argument("--out", default=None, help="default: <results>/<task>/<backbone>/stage0-teacher-s<seed> "
                                                    "(with --truncate: that run's directory)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from revmux.core.layout import run_dir, teacher_dir
    from revmux.multiplexing.config import TeacherConfig
    from revmux.multiplexing.stage0 import train_teacher

    config = TeacherConfig(
        data=data_config(args), backbone=args.backbone, mode=args.mode, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, prompt_length=args.prompt_length, seed=args.seed, dtype=args.dtype,
        truncate=tuple(args.truncate) if args.truncate else None, start_from=args.start_from,
    )
    if args.out:
        out = Path(args.out)
    elif args.truncate:
        out = run_dir(args.results, args.task, args.backbone, "truncate", *args.truncate, args.seed)
    else:
        out = teacher_dir(args.results, args.task, args.backbone, args.seed)
    info = train_teacher(config, out, device=args.device)
    print(f"teacher ({info['mode']}, {info['backbone_provenance']}): validation accuracy {info['validation_accuracy']:.4f} "
          f"(epoch {info['selected_epoch']}), held-out accuracy {info['eval_accuracy']:.4f} -> {out}")
    return 0
