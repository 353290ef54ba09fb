"""How much of each instance survives the frozen layers [P, L) when N instances share one pass, before any
adapter trains; and what the layer-P states look like that a multiplexer has to mix.

For one finished run's teacher and layer-P cache (results/<task>/<backbone>/stage0-teacher-s<seed> and
prefill-cache-s<seed>), it prints:
- per position: the median norm of position 0's layer-P state, of every later real position, and how alike
  position 0 is across examples (a decoder's first position is an "attention sink": one huge state that
  every example shares);
- accuracy on the held-out split, under the harness's own regrouping protocol, of the frozen teacher head
  reading each slot's answer position of an UNTRAINED composite: the plain mean of the N instances' states
  (no mux, no demux, nothing learned), beside the teacher's own accuracy. A trained multiplexer that ends
  below this mean has learned less than nothing.

    python benchmarks/mux_signal_probe.py --task sst-2 --backbone smollm2-135m -p 15 --seed 1 [--n 2 4]

CPU, float32, one thread. Reads the cache; trains and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from revmux.core import layout
from revmux.multiplexing.evaluate import evaluate
from revmux.multiplexing.features import CachedFeatures
from revmux.multiplexing.methods.base import Multiplexer
from revmux.multiplexing.model import MultiplexedModel
from revmux.multiplexing.stage0 import load_teacher
from revmux.multiplexing.train import feature_path

REGROUPINGS, EVAL_BATCH, EVAL_SEED = 2, 32, 0  # config/paper-cpu.yaml's protocol


class MeanOfInstances(Multiplexer):
    """The untrained reference: the composite is the mean of the N states; every slot reads it unchanged."""

    name = "mean (untrained)"

    def mux(self, states):
        return states.mean(dim=1)

    def demux(self, composite):
        return composite.unsqueeze(1).expand(-1, self.n, -1)


def position_statistics(features: CachedFeatures, rows: int = 256) -> dict:
    batch = features.batch(np.arange(min(rows, len(features))))
    hidden = batch.hidden.float()
    later = hidden[:, 1:][batch.mask[:, 1:] > 0]
    first = torch.nn.functional.normalize(hidden[:, 0], dim=-1)
    return {
        "position 0 norm (median)": hidden[:, 0].norm(dim=-1).median().item(),
        "later positions' norm (median)": later.norm(dim=-1).median().item(),
        "position 0, mean cosine across examples": (first @ first.T).mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--backbone", required=True)
    parser.add_argument("-p", "--prefill-layers", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    teacher_dir = layout.teacher_dir(args.results, args.task, args.backbone, args.seed)
    cache_dir = layout.prefill_dir(args.results, args.task, args.backbone, args.seed)
    backbone, head, _ = load_teacher(teacher_dir, None, "cpu")
    held_out = CachedFeatures(feature_path(cache_dir, args.prefill_layers, args.max_length, "eval"))
    print(f"{args.task} x {args.backbone}, P = {args.prefill_layers}, seed {args.seed}: {len(held_out)} held-out examples")
    for name, value in position_statistics(held_out).items():
        print(f"  {name}: {value:.4g}")
    ids = np.arange(len(held_out))
    for n in args.n:
        model = MultiplexedModel(backbone, head, MeanOfInstances(backbone.hidden_size, n), args.prefill_layers).eval()
        with torch.no_grad():
            summary, _ = evaluate(model, held_out, ids, REGROUPINGS, EVAL_BATCH, EVAL_SEED)
        print(f"  N = {n}: untrained mean of instances {summary['mean']:.3f} (regroupings {summary['per_regrouping']}); "
              f"teacher {summary['teacher']:.3f}")


if __name__ == "__main__":
    main()
