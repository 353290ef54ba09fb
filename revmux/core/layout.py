"""Every path and file name the harness reads or writes, in one place: where inputs are found by default
(each overridable), and the results tree. The results templates use Snakemake's wildcard syntax, so the
workflow's rules and the Python code expand the same strings; `{results}` is the results folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """Cache of fetched assets (model weights, data files): `$REVMUX_RESOURCES` or ./resources."""
    return Path(os.environ.get("REVMUX_RESOURCES", "resources"))


def shared_dir() -> Path:
    """The team's offline assets folder (GLUE files, stories260K): `$REVMUX_SHARED` or ../shared."""
    return Path(os.environ.get("REVMUX_SHARED", PROJECT_ROOT.parent / "shared"))


def default_glue_dir() -> Path:
    """A GLUE directory in the paper's layout: `$REVMUX_GLUE_DIR` or <shared>/data/glue."""
    return Path(os.environ.get("REVMUX_GLUE_DIR", shared_dir() / "data" / "glue"))


# Where the outputs appear in the Snakemake report: the categories the workflow marks its tables and
# figures with, and the id of the summary table, which the CI check of the rendered report looks for.

SUMMARY_CATEGORY = "1. Summary table"
SUMMARY_TABLE_ID = "summary-table"
# figure -> its category (numbered so the report lists them in this order)
FIGURES = {
    "accuracy-vs-speedup": "2. Accuracy vs speedup",
    "speedup-vs-n": "3. Speedup vs N",
    "memory-energy-vs-n": "4. Memory and energy",
    "agreement": "5. Agreement with the teacher",
    "training-curves": "6. Training curves",
}
# The other tracks' categories, after the multiplexing track's.
BATCHING_CATEGORY = "7. Generation batching"
CACHING_CATEGORY = "8. Caching and model selection"


# The results tree. A run is one method at one N, P and seed, trained on the stage-0 teacher of its task,
# backbone and seed: a seed replicates the whole pipeline (the teacher's fine-tuning too), so that seed-to-seed
# intervals include the teacher's own fine-tuning noise. The layer-P cache is shared by every run of that task,
# backbone, P and seed.
RESULTS = "results"
RUN_NAME = "{method}-n{n}-p{p}-s{seed}"
TEACHER_DIR = "{results}/{task}/{backbone}/stage0-teacher-s{seed}"
PREFILL_DIR = "{results}/{task}/{backbone}/prefill-cache-s{seed}"
PREFILL_MANIFEST = "p{p}-len{length}/{split}.json"  # under PREFILL_DIR; the split's shards beside it
RUN_DIR = "{results}/{task}/{backbone}/" + RUN_NAME
SPEED_FILE = "{results}/speed/{backbone}/{method}-n{n}-p{p}-b{batch}-len{length}.json"
TABLES_DIR = "{results}/tables"
PLOTS_DIR = "{results}/plots"
PLOT_FILE = "{backbone}-{figure}.svg"  # under PLOTS_DIR

# The generation-batching track: per backbone, seeded traces (offline; Poisson at a load factor of the
# measured static capacity), the reference tokens of a seed's requests, and one run per system and workload
# (offline, load<F>, closed<C>: the offline trace replayed by C clients).
BATCHING_TRACE = "{results}/batching/{backbone}/traces/s{seed}-{workload}.csv"
BATCHING_REFERENCE = "{results}/batching/{backbone}/traces/s{seed}-reference.csv"
BATCHING_RUN = "{results}/batching/{backbone}/runs/s{seed}/{workload}/{system}.json"
BATCHING_RECORDS = "{results}/batching/{backbone}/runs/s{seed}/{workload}/{system}.csv.gz"  # its requests, one row each
BATCHING_TABLE = "{results}/tables/batching.csv"
BATCHING_PLOT = "batching-{backbone}-{figure}.svg"  # under PLOTS_DIR
BATCHING_FIGURES = ("throughput-vs-load", "latency-vs-load", "waste", "ttft-tpot", "copies-memory")
# The verdict sentences alone, beside batching.md (the multiplexing track's are verdicts.md there).
BATCHING_VERDICTS = "{results}/tables/batching-verdicts.md"
# The caching track: Zhu et al.'s synthetic suite, one file of per-run results per scenario.
CACHING_SUITE = "{results}/caching/synthetic-{scenario}.csv.gz"
CACHING_TABLES = ("caching-synthetic.md", "caching-synthetic.csv", "caching-synthetic-ratios.csv")  # under TABLES_DIR
CACHING_PLOT = "caching-synthetic-ours-vs-published.svg"  # under PLOTS_DIR
# A small/large model pair of this harness, replayed: per-query table, trained selector, every replay.
CACHING_PAIR = "{results}/caching/pairs/{pair}"
CACHING_PAIR_FILES = ("per-query.csv", "selector.json", "replays.csv")
CACHING_PAIR_TABLES = ("caching-pairs.md", "caching-pairs.csv", "caching-pairs-verdicts.md")  # under TABLES_DIR
CACHING_PAIR_PLOT = "caching-{pair}-{figure}.svg"  # under PLOTS_DIR
CACHING_PAIR_FIGURES = ("cost-vs-cache-size", "cost-vs-alpha", "accuracy-vs-speedup")

TEACHER_WEIGHTS = "teacher.safetensors"
TEACHER_INFO = "teacher.json"
CHECKPOINT = "checkpoint.pt"
ADAPTER = "adapter.pt"
DEV_SELECTED_ADAPTER = "adapter-dev-selected.pt"
HISTORY = "history.json"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv.gz"
VALIDATION_PREDICTIONS = "predictions-validation.csv.gz"  # one regrouping of the validation split


def pattern(template: str, results: str | Path = RESULTS) -> str:
    """A template with the results folder filled in and every other wildcard left for Snakemake."""
    return template.replace("{results}", str(results))


def glob_of(template: str) -> str:
    """A template as a glob under the results folder (every wildcard a `*`), for finding results by hand."""
    return re.sub(r"{[a-z_]+}", "*", template.replace("{results}/", ""))


def teacher_dir(results: str | Path, task: str, backbone: str, seed: int) -> Path:
    return Path(TEACHER_DIR.format(results=results, task=task, backbone=backbone, seed=seed))


def prefill_dir(results: str | Path, task: str, backbone: str, seed: int) -> Path:
    return Path(PREFILL_DIR.format(results=results, task=task, backbone=backbone, seed=seed))


def run_dir(results: str | Path, task: str, backbone: str, method: str, n: int, p: int, seed: int) -> Path:
    return Path(RUN_DIR.format(results=results, task=task, backbone=backbone, method=method, n=n, p=p, seed=seed))
