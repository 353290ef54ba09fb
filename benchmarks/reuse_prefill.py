"""Time one adapter-training epoch with and without reusing the cached layer-P and teacher states.

Both runs use the same data, seed and teacher in one process; the script prints both epoch times,
their ratio, the one-time cost of building the cache, and whether the two runs' losses agree.
The backbone is frozen, so layers [0, P) and the teacher's full forward pass are the same every
epoch: without reuse they are recomputed for every batch.

    python benchmarks/reuse_prefill.py                      # MiniLM, SST-2, P = 3, N = 2
    python benchmarks/reuse_prefill.py --n 4 --train-size 1024
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from revmux.multiplexing.config import AdapterConfig, DataConfig, TeacherConfig
from revmux.multiplexing.stage0 import train_teacher
from revmux.multiplexing.train import train_adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="sst-2")
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--method", default="revmux")
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--prefill-layers", "-p", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

    data = DataConfig(task=args.task, train_size=args.train_size, validation_size=64, eval_size=64,
                      max_length=args.max_length)
    with tempfile.TemporaryDirectory(prefix="revmux-bench-") as scratch:
        scratch = Path(scratch)
        # A head-only teacher is enough: what is timed is the adapter epoch, not the teacher's quality.
        train_teacher(TeacherConfig(data, args.backbone, mode="head" if args.backbone != "stories260k" else None,
                                    epochs=1), scratch / "teacher")
        runs = {}
        for reuse in (True, False):
            config = AdapterConfig(data=data, backbone=args.backbone, method=args.method, n=args.n,
                                   prefill_layers=args.prefill_layers, epochs=1, reuse_prefill=reuse)
            runs[reuse] = train_adapter(config, scratch / f"reuse-{reuse}", scratch / "teacher", scratch / "cache")

    reused, live = runs[True]["history"][1], runs[False]["history"][1]
    build = runs[True]["timings"].get("features_train_computed_s", 0.0)
    print(f"{args.method} N={args.n} P={args.prefill_layers} on {args.backbone}, {args.task}, "
          f"{args.train_size} training examples, max length {args.max_length}")
    print(f"  epoch with reuse of layer-P/teacher states : {reused['seconds']:8.2f} s")
    print(f"  epoch recomputing them every batch         : {live['seconds']:8.2f} s")
    print(f"  speed-up of an epoch                       : {live['seconds'] / reused['seconds']:8.2f} x")
    print(f"  one-time cost of building the cache        : {build:8.2f} s (shared by every method, N, seed, epoch)")
    print(f"  train loss with reuse / without            : {reused['train_loss']:.6f} / {live['train_loss']:.6f} "
          f"(relative difference {abs(reused['train_loss'] - live['train_loss']) / abs(live['train_loss']):.1e})")


if __name__ == "__main__":
    main()
