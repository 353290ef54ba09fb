# Configuration checks, the experiment grid, wildcard constraints and every input/param function.
import os
import re
import sys

from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

from revmux.workflow import batching as batching_grid
from revmux.workflow import caching as caching_grid
from revmux.workflow import multiplexing as revmux_grid
from revmux.workflow.config_errors import check_shape
from revmux.workflow.overlay import replace_grid_members
from revmux.core import layout


# Snakemake has deep-merged the overlays into config/config.yaml; a grid-member mapping an overlay sets is
# the overlay's own instead (revmux.workflow.overlay says why). Jobs on a cluster get the same overlays.
replace_grid_members(
    config, [load_configfile(path) for path in workflow.overwrite_configfiles] + [workflow.config_settings.config]
)
revmux_grid.coerce_command_line_values(config)
# One line naming the key, never a traceback or a dump of the configuration.
try:
    revmux_grid.refuse_quantized_training(config)
    check_shape(config)
    # A task whose data is missing here is left out, not failed; the reason is printed before any job runs.
    for reason in revmux_grid.add_available_tasks(config):
        print(f"Note: {reason}.", file=sys.stderr)
    revmux_grid.check_config(config)
    batching_grid.check_config(config)
    caching_grid.check_config(config)
except revmux_grid.ConfigError as error:
    raise SystemExit(f"Invalid configuration: {error}")

# Jobs run `$REVMUX_PYTHON -m revmux`: the interpreter that runs Snakemake, so a venv that was not
# activated cannot make every job fail behind --keep-going; in a conda deployment, the environment's own
# python. An environment variable, not a param: a param would rerun every job when the venv moves, and
# jobs (local or on SLURM, where the job's Snakemake reads this file again) inherit it.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ.update(REVMUX_PYTHON="python")
else:
    os.environ.update(REVMUX_PYTHON=sys.executable)
# Every rule runs in this one environment under --software-deployment-method conda.
ENVIRONMENT = os.path.join(workflow.basedir, "environment.yml")

GRID = revmux_grid.build_grid(config)
SPEED_GRID = revmux_grid.build_speed_grid(config)
SPLITS = ["train", "validation", "eval"]
USES_GPU = config["device"].startswith("cuda")

def threads_for(rule):
    return revmux_grid.threads_for(config, rule)


def timing_reservation(rule):
    """Cores a timing job claims: locally every core Snakemake was given, so nothing runs beside a
    measurement (the job itself uses threads_for(rule)); on a cluster each job is its own allocation
    (and inside it, a remote job, asking for more cores than the allocation makes srun refuse the step)."""
    if not workflow.local_exec or workflow.remote_exec:
        return threads_for(rule)
    try:
        return max(workflow.cores, threads_for(rule))
    except WorkflowError:  # no --cores given (a dry run without a profile): nothing is scheduled
        return threads_for(rule)

MAX_LENGTH = config["data"]["max_length"]
# Every results path comes from revmux.core.layout, shared with the Python code.
RUN_DIR = layout.pattern(layout.RUN_DIR)
TEACHER_DIR = layout.pattern(layout.TEACHER_DIR)
TABLES_DIR = layout.pattern(layout.TABLES_DIR)
PLOTS_DIR = layout.pattern(layout.PLOTS_DIR)
SPEED_FILE = layout.pattern(layout.SPEED_FILE)
# The manifest of each split's layer-P cache; its shards are written beside it (<split>.shards/).
PREFILL = f"{layout.pattern(layout.PREFILL_DIR)}/{layout.PREFILL_MANIFEST}".replace("{length}", str(MAX_LENGTH))


def alternatives(values):
    return "|".join(re.escape(str(value)) for value in values)


wildcard_constraints:
    task=alternatives(config["tasks"]),
    backbone=alternatives({**config["backbones"], **config["speed"]["shapes"], config["batching"]["backbone"]: {}}),
    method=alternatives(revmux_grid.trained_methods(config)),
    n=r"\d+",
    p=r"\d+",
    seed=r"\d+",
    batch=r"\d+",
    length=r"\d+",
    split=alternatives(SPLITS),
    workload=r"offline|load[0-9.]+|closed\d+",
    load=r"[0-9.]+",
    system=alternatives(batching_grid.all_systems(config)),
    scenario=alternatives(caching_grid.SCENARIOS),
    pair=alternatives(config["caching"]["pairs"]) if config["caching"]["pairs"] else "$^",


PLOT_CATEGORIES = layout.FIGURES  # figure -> report category


def report_outputs():
    """The tables and figures of the report: what the default target builds last (nothing when the
    configuration trains no multiplexing method)."""
    if GRID.empty:
        return []
    return [f"{TABLES_DIR}/summary.html"] + expand(
        f"{PLOTS_DIR}/{layout.PLOT_FILE}", backbone=config["backbones"], figure=PLOT_CATEGORIES
    )


def metrics_outputs():
    return expand(
        f"{RUN_DIR}/{layout.METRICS}",
        zip,
        **GRID.to_dict("list"),
    )


def final_outputs():
    return metrics_outputs() + speed_outputs()


def speed_outputs():
    return expand(
        SPEED_FILE,
        zip,
        **SPEED_GRID.to_dict("list"),
    )


def fetched_assets(wildcards):
    return [
        f"resources/fetched/backbone-{wildcards.backbone}.done",
        f"resources/fetched/task-{wildcards.task}.done",
    ]


# Everything stage 0 leaves behind; every rule that loads the teacher declares both files, so a new
# teacher reruns the prefill cache, the training and the evaluation built on it.
TEACHER_FILES = {
    "teacher_weights": f"{TEACHER_DIR}/{layout.TEACHER_WEIGHTS}",
    "teacher_info": f"{TEACHER_DIR}/{layout.TEACHER_INFO}",
}


def truncation_start_files(wildcards):
    """A truncation's teacher, where it starts from it (revmux.workflow.multiplexing.truncation_starts_from_teacher)."""
    return TEACHER_FILES if revmux_grid.truncation_starts_from_teacher(config, wildcards.backbone) else {}


def prefill_files(wildcards):
    return expand(PREFILL, split=SPLITS, **wildcards)


def trained_files(wildcards):
    """What an evaluate job reads besides the teacher: a multiplexer's training and the shared layer-P cache;
    a truncation's own stage 0; for `<method>+<scheme>`, what <method> trained (the quantized teacher, nothing)."""
    base = revmux_grid.split_method(wildcards.method)[0]
    traits = revmux_grid.method_traits(base)
    run = RUN_DIR.format(**{**wildcards, "method": base})
    if traits["trains_backbone"]:
        return {"truncated_weights": f"{run}/{layout.TEACHER_WEIGHTS}", "truncated_info": f"{run}/{layout.TEACHER_INFO}"}
    if revmux_grid.method_traits(wildcards.method)["quantization"]:
        return {} if base == "identity" else {"adapter": f"{run}/{layout.ADAPTER}", "history": f"{run}/{layout.HISTORY}"}
    return {"adapter": f"{run}/{layout.ADAPTER}", "history": f"{run}/{layout.HISTORY}",
            "dev_selected": f"{run}/{layout.DEV_SELECTED_ADAPTER}", "prefill": prefill_files(wildcards)}


def trained_by_pattern(rule):
    """The method wildcard of a training rule: the methods it makes (none: a pattern that matches nothing)."""
    methods = revmux_grid.methods_trained_by(config, rule)
    return alternatives(methods) if methods else "$^"


def reference_values():
    """The reference file of published values, an input of aggregate (so editing it redoes the tables)."""
    return [config["reference_values"]] if config["reference_values"] else []


def reference_arguments():
    return f"--reference {config['reference_values']}" if config["reference_values"] else ""


def data_arguments(wildcards):
    return revmux_grid.data_arguments(config, wildcards.task, wildcards.backbone)


def teacher_arguments(wildcards):
    return revmux_grid.teacher_arguments(config, wildcards.backbone)


def truncation_arguments(wildcards):
    """The teacher's flags, and where the truncation starts from its seed's teacher, that teacher's directory."""
    start = ""
    if revmux_grid.truncation_starts_from_teacher(config, wildcards.backbone):
        start = f" --start-from {os.path.dirname(TEACHER_FILES['teacher_info'].format(**wildcards))}"
    return revmux_grid.teacher_arguments(config, wildcards.backbone) + start


def training_arguments(wildcards):
    return revmux_grid.training_arguments(config, wildcards.backbone, wildcards.method)


def speed_arguments(wildcards):
    return revmux_grid.speed_arguments(config, wildcards.backbone)


def task_source(wildcards):
    return revmux_grid.task_source(config, wildcards.task)


# The generation-batching track (workflow/rules/batching/).
BATCHING_TRACE = layout.pattern(layout.BATCHING_TRACE)
BATCHING_REFERENCE = layout.pattern(layout.BATCHING_REFERENCE)
BATCHING_RUN = layout.pattern(layout.BATCHING_RUN)
BATCHING = config["batching"]
# Who serves offline and the closed loops; who serves the Poisson loads (the static sweep serves only there).
BATCHING_SYSTEMS = batching_grid.systems_for(config, "offline")
BATCHING_LOAD_SYSTEMS = batching_grid.load_systems(config)


def batching_run_outputs():
    return [BATCHING_RUN.format(**run) for run in batching_grid.runs(config)]


def batching_outputs():
    """The track's tables (and so every run), when it is enabled."""
    return [f"{TABLES_DIR}/batching.html"] if batching_grid.enabled(config) else []


def batching_trace_for(wildcards):
    """closed<C> replays the offline trace; the others have their own."""
    workload = "offline" if wildcards.workload.startswith("closed") else wildcards.workload
    return BATCHING_TRACE.format(backbone=wildcards.backbone, seed=wildcards.seed, workload=workload)


# The caching track (workflow/rules/caching/).
CACHING_SUITE = layout.pattern(layout.CACHING_SUITE)


CACHING_PAIR = layout.pattern(layout.CACHING_PAIR)


def caching_pair_inputs(wildcards):
    files = caching_grid.pair_files(config, wildcards.pair)
    return {role: path for role, path in files.items() if not role.endswith("_run")}


def caching_pair_arguments(wildcards):
    return caching_grid.pair_arguments(config, wildcards.pair)


def caching_outputs():
    """The track's tables (and so every suite run), when it is enabled."""
    return [f"{TABLES_DIR}/{layout.CACHING_TABLES[0]}"] if caching_grid.enabled(config) else []
