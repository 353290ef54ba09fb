#!/usr/bin/env bash
# One check of the GPU timing on one H100 / H200, in under 8 minutes: every method (revmux, adapter, ora,
# hadamard, truncate; identity+int8 is skipped with the reason, int8 runs on the CPU only) against the
# teacher at the BERT-base (P = 6), t5-small (P = 3, 20-token soft prompt) and Llama-3-8B (P = 16) shapes,
# random init, bfloat16, batch 128 x 128 (Llama: 32 x 128); N = 2, then revmux at N = 2 with CUDA graphs,
# then N = 4, as long as the time budget lasts (a run that would end after it is skipped, and says so). Each run is timed in rounds of k back-to-back calls between CUDA events (a round >= 50 ms),
# after a warm-up that lasts until the latency is steady, with NVML read around the timed window.
# Writes one speed profile per run, summary.md, runs.json and log.txt to the folder, and prints a table.
#   bash benchmarks/gpu/check.sh [OUT_DIR]              (default: $OUT)
#   bash benchmarks/gpu/check.sh --cpu-dry-run OUT_DIR  (the tiny T5 on the CPU: checks the script, measures nothing)
# PYTHON picks the interpreter (default: the repository's .venv, else python3); CHECK_LIMIT_S the hard limit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
dry_run=()
if [[ ${1:-} == --cpu-dry-run ]]; then
    dry_run=(--cpu-dry-run)
    shift
fi
out=${1:-${OUT:-}}
if [[ -z $out ]]; then
    echo "usage: check.sh [--cpu-dry-run] OUT_DIR (or set OUT)" >&2
    exit 2
fi
limit_s=${CHECK_LIMIT_S:-470}
budget_s=$((limit_s - 40))   # no run starts that would end in the last 40 s: the table is still printed
mkdir -p "$out"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

if [[ ${#dry_run[@]} -eq 0 ]]; then
    # Fail fast, before anything is built: no CUDA device, no check.
    if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() and torch.cuda.device_count() > 0 else 1)'; then
        echo "check.sh: no CUDA device is visible to $python (torch.cuda.is_available() is False): run it on a GPU" \
             "machine, or use --cpu-dry-run to check the script on the CPU" >&2
        exit 3
    fi
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
            --format=csv >"$out/nvidia-smi.txt" 2>&1 || true
        nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv >>"$out/nvidia-smi.txt" 2>&1 || true
    fi
fi

cd "$root"
set +e
timeout --signal=INT --kill-after=15 "$limit_s" \
    "$python" benchmarks/gpu/check.py --out "$out" --budget-s "$budget_s" "${dry_run[@]}" 2>&1 | tee "$out/log.txt"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
    echo "check.sh: the check ended with status $status (124/130: the ${limit_s} s limit; see $out/log.txt)" >&2
fi
exit "$status"
