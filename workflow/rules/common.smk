# Configuration checks, the experiment grid, wildcard constraints and every input/param function.
import re

from snakemake.utils import validate

from revmux import grid as revmux_grid
from revmux import report_layout


revmux_grid.coerce_command_line_values(config)
validate(config, schema="../schemas/config.schema.yaml")
try:
    revmux_grid.check_config(config)
except revmux_grid.ConfigError as error:
    raise SystemExit(f"Invalid configuration: {error}")

GRID = revmux_grid.build_grid(config)
PROFILE_GRID = revmux_grid.build_profile_grid(config)
SPLITS = ["train", "validation", "eval"]
USES_GPU = config["device"].startswith("cuda")
MAX_LENGTH = config["data"]["max_length"]
# The manifest of each split's layer-P cache; its shards are written beside it (<split>.shards/).
PREFILL = f"results/{{task}}/{{backbone}}/prefill-cache/p{{p}}-len{MAX_LENGTH}/{{split}}.json"


def alternatives(values):
    return "|".join(re.escape(str(value)) for value in values)


wildcard_constraints:
    task=alternatives(config["tasks"]),
    backbone=alternatives({**config["backbones"], **config["profile"]["shapes"]}),
    method=alternatives(config["methods"]),
    n=r"\d+",
    p=r"\d+",
    seed=r"\d+",
    batch=r"\d+",
    length=r"\d+",
    split=alternatives(SPLITS),


PLOT_CATEGORIES = report_layout.FIGURES  # figure -> report category


def report_outputs():
    """The tables and figures of the report: what the default target builds last."""
    return ["results/tables/summary.html"] + expand(
        "results/plots/{backbone}-{figure}.svg", backbone=config["backbones"], figure=PLOT_CATEGORIES
    )


def metrics_outputs():
    return expand(
        "results/{task}/{backbone}/{method}-n{n}-p{p}-s{seed}/metrics.json",
        zip,
        **GRID.to_dict("list"),
    )


def final_outputs():
    return metrics_outputs() + profile_outputs()


def profile_outputs():
    return expand(
        "results/profile/{backbone}/{method}-n{n}-p{p}-b{batch}-len{length}.json",
        zip,
        **PROFILE_GRID.to_dict("list"),
    )


def fetched_assets(wildcards):
    return [
        f"resources/fetched/backbone-{wildcards.backbone}.done",
        f"resources/fetched/task-{wildcards.task}.done",
    ]


# Everything stage 0 leaves behind; every rule that loads the teacher declares both files, so a new
# teacher reruns the prefill cache, the training and the evaluation built on it.
TEACHER_FILES = {
    "teacher_weights": "results/{task}/{backbone}/stage0-teacher/teacher.safetensors",
    "teacher_info": "results/{task}/{backbone}/stage0-teacher/teacher.json",
}


def prefill_files(wildcards):
    return expand(PREFILL, split=SPLITS, **wildcards)


def data_arguments(wildcards):
    return revmux_grid.data_arguments(config, wildcards.task)


def teacher_arguments(wildcards):
    return revmux_grid.teacher_arguments(config, wildcards.backbone)


def training_arguments(wildcards):
    return revmux_grid.training_arguments(config, wildcards.backbone)


def profile_arguments(wildcards):
    return revmux_grid.profile_arguments(config, wildcards.backbone)


def task_source(wildcards):
    return revmux_grid.task_source(config, wildcards.task)
