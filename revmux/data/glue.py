"""GLUE SST-2, RTE, QNLI and MRPC, from a local directory of GLUE TSV files or from the hub.

Both sources give the same examples in the same order for the same split; `split_hash` checks it.
Local layout (the paper's README): <glue_dir>/{SST-2,RTE,QNLI,MRPC}/{train,dev,test}.tsv.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from revmux.data.splits import COLUMNS, UNLABELLED
from revmux.core.errors import RevmuxError
from revmux.core.hub import hub_offline_mode, hub_reachable, hub_unreachable_hint

HUB_DATASET = "nyu-mll/glue"
# Our raw split names and the hub's.
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


@dataclass(frozen=True)
class GlueLayout:
    """Where one GLUE task's fields are, in the TSV files and on the hub."""

    directory: str  # folder name under glue_dir
    hub_config: str
    tsv_text_a: str
    tsv_text_b: str | None
    tsv_label: str  # absent from the (unlabelled) test files
    hub_text_a: str
    hub_text_b: str | None


GLUE_LAYOUTS = {
    "sst-2": GlueLayout("SST-2", "sst2", "sentence", None, "label", "sentence", None),
    "rte": GlueLayout("RTE", "rte", "sentence1", "sentence2", "label", "sentence1", "sentence2"),
    "qnli": GlueLayout("QNLI", "qnli", "question", "sentence", "label", "question", "sentence"),
    "mrpc": GlueLayout("MRPC", "mrpc", "#1 String", "#2 String", "Quality", "sentence1", "sentence2"),
}


def _parse_label(value: str, label_names: tuple[str, ...], where: str) -> int:
    if value in label_names:
        return label_names.index(value)
    try:
        label = int(value)
    except ValueError:
        label = -2
    if not 0 <= label < len(label_names):
        raise RevmuxError(f"{where}: label {value!r} is not one of {list(label_names)} or their indices")
    return label


def require_glue_file(glue_dir: Path, task: str, split: str) -> Path:
    """The TSV file of one split, or an error that names the expected file and the fixes."""
    layout = GLUE_LAYOUTS[task]
    path = Path(glue_dir) / layout.directory / f"{split}.tsv"
    if not path.is_file():
        raise RevmuxError(
            f"GLUE task {layout.directory} split {split} not found under {glue_dir}: expected "
            f"{layout.directory}/{split}.tsv; pass glue_dir=<a folder in the GLUE layout> or use source hub"
        )
    return path


def read_glue_tsv(glue_dir: Path, task: str, split: str, label_names: tuple[str, ...]) -> pd.DataFrame:
    """One split of a GLUE task from its TSV file (BOM-tolerant, no quoting: texts hold bare quotes)."""
    layout = GLUE_LAYOUTS[task]
    path = require_glue_file(glue_dir, task, split)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        rows = list(reader)
    needed = [layout.tsv_text_a] + ([layout.tsv_text_b] if layout.tsv_text_b else [])
    missing = [column for column in needed if column not in header]
    if missing:
        raise RevmuxError(f"{path}: header {header} lacks column(s) {missing}; is this a GLUE {layout.directory} file?")
    position = {name: header.index(name) for name in header}
    labelled = layout.tsv_label in position
    records = []
    for number, row in enumerate(rows):
        if len(row) != len(header):
            raise RevmuxError(f"{path}: line {number + 2} has {len(row)} fields, the header has {len(header)}")
        label = (
            _parse_label(row[position[layout.tsv_label]], label_names, f"{path}:{number + 2}")
            if labelled else UNLABELLED
        )
        text_b = row[position[layout.tsv_text_b]] if layout.tsv_text_b else None
        records.append((number, row[position[layout.tsv_text_a]], text_b, label))
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def read_glue_hub(task: str, split: str) -> pd.DataFrame:
    """One split of a GLUE task from the hub through `datasets`."""
    layout = GLUE_LAYOUTS[task]
    if not hub_offline_mode() and not hub_reachable():
        raise RevmuxError(
            f"cannot load GLUE {layout.directory} from the hub ({HUB_DATASET}): {hub_unreachable_hint()} "
            "Use source local with glue_dir=<a folder in the GLUE TSV layout> instead."
        )
    import datasets

    try:
        table = datasets.load_dataset(HUB_DATASET, layout.hub_config, split=HUB_SPLITS[split])
    except Exception as error:  # datasets raises many types for network and cache problems
        raise RevmuxError(
            f"cannot load GLUE {layout.directory} {split} from the hub ({HUB_DATASET}/{layout.hub_config}): {error}. "
            "Use source local with glue_dir=<a folder in the GLUE TSV layout> instead."
        ) from error
    frame = table.to_pandas()
    return pd.DataFrame({
        "idx": range(len(frame)),
        "text_a": frame[layout.hub_text_a],
        "text_b": frame[layout.hub_text_b] if layout.hub_text_b else None,
        "label": frame["label"].astype(int),  # the hub marks unlabelled test rows with -1, as we do
    })[COLUMNS]
