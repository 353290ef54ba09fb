#!/usr/bin/env bash
# The GPU profiles committed beside this script: t5-small-random (P = 3, timed with the prompt-tuned
# teacher's 20-token soft prompt, as the workflow times it) and bert-base-uncased-random (P = 6), every
# multiplexing method at N = 2 and 4, batch 128 x 128 tokens, bfloat16, 8 CPU threads.
#   bash benchmarks/gpu/run.sh OUT_DIR
set -euo pipefail
out=${1:?usage: run.sh OUT_DIR}
mkdir -p "$out"
for shape in "t5-small-random 3 20" "bert-base-uncased-random 6 0"; do
    read -r backbone p prompt <<<"$shape"
    for method in revmux ora adapter hadamard; do
        for n in 2 4; do
            python -m revmux --threads 8 speed --backbone "$backbone" --method "$method" --n "$n" -p "$p" \
                --batch-size 128 --length 128 --device cuda --dtype bfloat16 --soft-prompt-length "$prompt" \
                --min-duration 5 --no-progress --out "$out/$backbone-$method-n$n-p$p-b128-len128.json"
        done
    done
done
