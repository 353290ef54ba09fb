#!/usr/bin/env bash
# The generation-batching track on one H100 / H200 in under 8 minutes: config/batching-gpu.yaml's grid
# (SmolLM2-135M in bfloat16: every system offline, its load systems at static batching's measured capacity),
# then the Llama-3-8B shape with random weights in bfloat16: every system on a smaller offline trace of the
# same sentences (LLAMA_REQUESTS requests, default 16), made with SmolLM2's tokenizer (the random shape has
# none; its vocabulary holds SmolLM2's ids). The commands are the workflow's jobs' (`revmux trace`, `serve
# --reference-out`, `serve --systems ...`, `serve-report`) with the arguments the workflow derives from the
# config, so the SmolLM2 runs are those `snakemake --configfile config/batching-gpu.yaml` makes.
# bfloat16 is not token-exact: each run records where every request first departs from the unbatched greedy
# reference; a match rate below 1 is expected, not a failure.
# Steps run in order: SmolLM2's grid, then the Llama shape. A step still running at the limit is stopped and
# the later ones are skipped, each named (the exit status is then 1); finished runs keep their files, and the
# tables are made from whatever finished. Each system's process builds the 8B shape's random weights anew:
# on the CPU, as revmux.backbones.load does today, that alone takes minutes, so the Llama runs fit only once
# the weights are drawn on the GPU.
# Writes under OUT_DIR: batching/<backbone>/traces and runs (laid out as in results/), tables/, plots/ and
# log.txt (every command's output); prints each system's summary line and the time taken.
#   bash benchmarks/gpu/batching.sh OUT_DIR
# PYTHON picks the interpreter (default: the repository's .venv, else python3); BATCHING_LIMIT_S the hard
# limit in seconds (default 470).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
if [[ -z ${1:-} ]]; then
    echo "usage: batching.sh OUT_DIR" >&2
    exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
limit_s=${BATCHING_LIMIT_S:-470}
report_s=40   # kept back for the tables and figures at the end
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
: >"$out/log.txt"

if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "batching.sh: no CUDA device is visible to $python (torch.cuda.is_available() is False): run it on a GPU machine" >&2
    exit 3
fi

# The plan, one step a line: a name, a tab, the command (python and out are this script's variables).
plan=$("$python" - config/batching-gpu.yaml "${LLAMA_REQUESTS:-16}" <<'EOF'
import copy
import sys

import yaml

from revmux.core import layout
from revmux.workflow import batching as grid
from revmux.workflow.config_errors import check_shape
from revmux.workflow.multiplexing import ConfigError, threads_for

config_file, llama_requests = sys.argv[1], int(sys.argv[2])
config = yaml.safe_load(open(config_file))
try:
    check_shape(config)
    grid.check_config(config)
except ConfigError as error:
    sys.exit(f"{config_file}: {error}")
block = config["batching"]
revmux = f'"$python" -m revmux --threads {threads_for(config, "batching_serve")}'
llama = copy.deepcopy(config)  # a smaller trace: each of its systems loads the 8B shape in a fresh process
llama["batching"]["requests"] = min(llama_requests, block["requests"])


def path(template: str, **names) -> str:
    return '"$out/' + template.replace("{results}/", "").format(**names) + '"'


def step(name: str, command: str) -> None:
    print(f"{name}\t{command}")


def trace(backbone: str, seed: int, workload: str) -> str:
    return path(layout.BATCHING_TRACE, backbone=backbone, seed=seed, workload=workload)


def prepare(trace_config: dict, backbone: str, seed: int) -> None:
    """The offline trace (the config backbone's tokenizer) and the unbatched greedy reference tokens."""
    step(f"{backbone} s{seed} offline trace",
         f"{revmux} trace {grid.trace_arguments(trace_config, seed)} --arrivals offline --out {trace(backbone, seed, 'offline')}")
    step(f"{backbone} s{seed} reference",
         f"{revmux} serve --trace {trace(backbone, seed, 'offline')} --backbone {backbone} --device {config['device']} "
         f"--dtype {block['dtype']} --reference-out {path(layout.BATCHING_REFERENCE, backbone=backbone, seed=seed)} --no-progress")


def serve(trace_config: dict, backbone: str, seed: int, workload: str) -> None:
    """One workload's runs, every system in its own process; a load's trace first (capacity: static offline)."""
    if workload.startswith("load"):
        capacity = path(layout.BATCHING_RUN, backbone=backbone, seed=seed, workload="offline", system=grid.CAPACITY_SYSTEM)
        step(f"{backbone} s{seed} {workload} trace",
             f"{revmux} trace {grid.trace_arguments(trace_config, seed)} --load {workload.removeprefix('load')} "
             f"--capacity-from {capacity} --out {trace(backbone, seed, workload)}")
    served = trace(backbone, seed, "offline" if workload.startswith("closed") else workload)
    runs = path(layout.BATCHING_RUN, backbone=backbone, seed=seed, workload=workload, system="{system}")
    step(f"{backbone} s{seed} {workload}",
         f"{revmux} serve --trace {served} --backbone {backbone} --systems {' '.join(grid.systems_for(config, workload))} "
         f"{grid.serve_arguments(config, workload)} --reference {path(layout.BATCHING_REFERENCE, backbone=backbone, seed=seed)} "
         f"--out {runs} --no-progress")


for seed in block["seeds"]:
    prepare(config, block["backbone"], seed)
    for workload in grid.workloads(config):  # offline first: the loads are multiples of its static capacity
        serve(config, block["backbone"], seed, workload)
for seed in block["seeds"]:
    prepare(llama, "llama-3-8b-random", seed)
    serve(llama, "llama-3-8b-random", seed, "offline")
EOF
)

started=$SECONDS
skipped=()
failed=()
while IFS=$'\t' read -r name command; do
    left=$((limit_s - report_s - (SECONDS - started)))
    if [[ $left -lt 20 ]]; then
        skipped+=("$name")
        continue
    fi
    echo "== $name ($((SECONDS - started)) s)" | tee -a "$out/log.txt"
    # The whole output goes to log.txt; the terminal gets what each command reports (lines with "->") and errors.
    set +e
    timeout --signal=INT --kill-after=10 "$left" bash -c "python=$(printf %q "$python"); out=$(printf %q "$out"); $command" \
        </dev/null 2>&1 | tee -a "$out/log.txt" | grep --line-buffered -E -- '->|[Ee]rror: '
    status=${PIPESTATUS[0]}
    set -e
    if [[ $status -ne 0 ]]; then
        failed+=("$name")
        echo "batching.sh: $name ended with status $status (124 or 130: stopped at the time limit; see $out/log.txt)" \
            | tee -a "$out/log.txt" >&2
    fi
done <<<"$plan"

shopt -s nullglob
runs=("$out"/batching/*/runs/*/*/*.json)
if [[ ${#runs[@]} -gt 0 ]]; then
    if timeout --signal=INT --kill-after=10 "$report_s" "$python" -m revmux serve-report --served "${runs[@]}" \
        --tables "$out/tables" --plots "$out/plots" >>"$out/log.txt" 2>&1; then
        echo "tables: $out/tables/batching.md"
    else
        failed+=("tables")
        echo "batching.sh: the tables failed (see $out/log.txt)" >&2
    fi
fi
for name in "${skipped[@]}"; do
    echo "batching.sh: skipped, no time left: $name" >&2
done
echo "batching.sh: ${#runs[@]} runs in $((SECONDS - started)) s (limit $limit_s s); ${#failed[@]} failed, ${#skipped[@]} skipped"
[[ ${#failed[@]} -eq 0 && ${#skipped[@]} -eq 0 ]]
