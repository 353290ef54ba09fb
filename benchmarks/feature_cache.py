"""Peak memory of building and reading the layer-P feature cache for M and 4M examples.

Each phase runs in a fresh process and reports its peak RSS (the kernel's high-water mark):
- build: `revmux.multiplexing.features.build_features` writing the shards of M examples;
- read: one shuffled epoch of training-size batch gathers (`CachedFeatures.batch`) over them.
The target: 4x the examples grows neither peak by more than one shard.

The layer-P states fed to the cache are synthetic (random, of the paper's shape: BERT-base d = 768,
T = 128, float32 as on a CPU run): the cache's memory depends on shapes and dtype only, and running
BERT-base over thousands of examples on a laptop CPU would measure the model, not the cache.

    python benchmarks/feature_cache.py                     # M = 1000, shards of 64 MiB
    python benchmarks/feature_cache.py --examples 2000 --shard-mib 256
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HIDDEN, LENGTH, BATCH = 768, 128, 32


def _phase(phase: str, examples: int, directory: Path, shard_mib: int) -> dict:
    import pandas as pd
    import torch

    import revmux.multiplexing.features as features

    manifest = directory / "train.json"
    started = time.perf_counter()
    if phase == "build":
        rows = pd.DataFrame({"text_a": ["x"] * examples, "text_b": None, "label": np.arange(examples) % 2})
        generator = torch.Generator().manual_seed(0)

        def synthetic(self, index):  # what LiveFeatures would compute, at the paper's shape
            size = len(index)
            lengths = torch.randint(LENGTH // 2, LENGTH + 1, (size,), generator=generator)
            mask = (torch.arange(LENGTH).unsqueeze(0) < lengths.unsqueeze(1)).long()
            return features.FeatureBatch(torch.randn(size, LENGTH, HIDDEN, generator=generator), mask, lengths - 1,
                                         torch.as_tensor(rows.label.to_numpy()[list(index)]), torch.randn(size, HIDDEN))

        features.LiveFeatures.batch = synthetic

        class Model:  # only what build_features reads besides LiveFeatures
            class backbone:
                hidden_size = HIDDEN

        features.build_features(Model(), "sst-2", rows, LENGTH, manifest, "bench", "build", shard_mib * 2**20)
    else:
        cached = features.CachedFeatures(manifest)
        order = np.random.default_rng(0).permutation(len(cached))
        for start in range(0, len(order), BATCH):
            cached.batch(order[start:start + BATCH])
    return {"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000, help="M (default 1000); 4M is measured too")
    parser.add_argument("--shard-mib", type=int, default=64, help="shard size bound in MiB (default 64)")
    parser.add_argument("--phase", choices=["build", "read"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:  # a child: one phase, one number
        print(json.dumps(_phase(args.phase, args.examples, args.dir, args.shard_mib)))
        return

    results = {}
    for examples in (args.examples, 4 * args.examples):
        with tempfile.TemporaryDirectory(dir=".") as directory:
            for phase in ("build", "read"):
                command = [sys.executable, __file__, "--phase", phase, "--examples", str(examples),
                           "--dir", directory, "--shard-mib", str(args.shard_mib)]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[phase, examples] = json.loads(output.strip().splitlines()[-1])
            disk = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
            results["bytes_per_example", examples] = disk / examples

    m, big = args.examples, 4 * args.examples
    shard = args.shard_mib * 2**20
    print(f"layer-P cache, d = {HIDDEN}, T = {LENGTH}, float32, shards of {args.shard_mib} MiB, batches of {BATCH}")
    print("| phase | peak RSS, M = {:,} | peak RSS, 4M = {:,} | growth | growth / shard | within one shard |".format(m, big))
    print("|---|---|---|---|---|---|")
    for phase in ("build", "read"):
        small, large = results[phase, m]["peak_rss"], results[phase, big]["peak_rss"]
        growth = large - small
        print(f"| {phase} | {small / 2**20:.0f} MiB | {large / 2**20:.0f} MiB | {growth / 2**20:+.0f} MiB | "
              f"{growth / shard:+.2f} | {'yes' if growth <= shard else 'NO'} |")
    per_example = results["bytes_per_example", big]
    print(f"bytes per example on disk: {per_example:,.0f} (float32; half that in bfloat16)")
    for name, count, hidden in (("QNLI train on bert-base", 104_743, 768), ("SST-2 train on Llama-3-8B", 67_349, 4096)):
        bf16 = count * (LENGTH * hidden * 2 + hidden * 4 + 24)
        fp32 = count * LENGTH * hidden * 4
        print(f"{name}, T = {LENGTH}: {bf16 / 1e9:.1f} GB on disk in bfloat16 (before: {fp32 / 1e9:.1f} GB of float32 "
              "held in memory at once, about twice that at the peak of building)")


if __name__ == "__main__":
    main()
