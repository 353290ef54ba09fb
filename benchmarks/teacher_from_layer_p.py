"""What running the teacher from the layer-P states saves when the feature cache is built.

Side by side in one process, alternating, median of --repeats: the layer-P states and teacher answer
states of the same sentences computed (a) as the cache now does, the teacher continuing from layer P,
and (b) as before, the teacher's pass starting again from the embeddings (layers [0, P) twice).

    python benchmarks/teacher_from_layer_p.py              # MiniLM, P = 3, 512 rt-polarity sentences, 2 threads
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--prefill-layers", "-p", type=int, default=3)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from revmux.backbones.load import load_backbone
    from revmux.backbones.stages import stage_backbone
    from revmux.multiplexing.config import DataConfig
    from revmux.multiplexing.inputs import load_run_splits, tokenize_rows
    from revmux.multiplexing.features import FEATURE_BATCH, LiveFeatures
    from revmux.multiplexing.heads import LinearHead
    from revmux.multiplexing.model import MultiplexedModel, teacher_answer_states
    from revmux.multiplexing.methods import build_multiplexer
    from revmux.core.layout import resources_dir

    backbone = stage_backbone(load_backbone(args.backbone, resources_dir()))
    model = MultiplexedModel(backbone, LinearHead(backbone.hidden_size, 2),
                             build_multiplexer("teacher", backbone.hidden_size, 1), args.prefill_layers).eval()
    splits, _ = load_run_splits(DataConfig(task="rt-polarity", train_size=args.examples, resources=str(resources_dir())))
    rows = splits["train"]
    live = LiveFeatures(model, "rt-polarity", rows, 64)

    def from_layer_p():
        for start in range(0, len(rows), FEATURE_BATCH):
            live.batch(range(start, min(start + FEATURE_BATCH, len(rows))))

    def twice():
        with torch.no_grad():
            for start in range(0, len(rows), FEATURE_BATCH):
                tokens = tokenize_rows(backbone, "rt-polarity", rows.iloc[start:start + FEATURE_BATCH], 64)
                model.prefill(tokens)
                teacher_answer_states(backbone, tokens)

    times = {"teacher from layer P (now)": [], "teacher from the embeddings (before)": []}
    for _ in range(args.repeats):
        for name, fn in zip(times, (from_layer_p, twice)):
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    print(f"{args.backbone}, P = {args.prefill_layers}, {len(rows)} rt-polarity sentences, length 64, "
          f"{args.threads} threads, CPU float32, median of {args.repeats}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"  {name}: {value:.2f} s")
    now, before = medians.values()
    print(f"  saving: {1 - now / before:.1%} of the build time (layers [0, P) are {args.prefill_layers} of "
          f"{backbone.num_layers})")


if __name__ == "__main__":
    main()
