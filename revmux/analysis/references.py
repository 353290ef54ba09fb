"""Published accuracies to set beside ours: the reference file a user fills from a paper, checked row by row,
and matched to the summary's cells.

The file is CSV with the columns REFERENCE_COLUMNS, one published accuracy (%) per row:

    task,backbone,method,n,value,source
    sst-2,bert-base-uncased,revmux,2,<accuracy %>,"<paper>, Table <k>"

A row applies to every backbone of this grid of its backbone's family (encoder, decoder, encoder-decoder):
the paper's BERT-base values sit beside MiniLM-L6, its Llama-3-8B values beside SmolLM2-135M, each cell naming
the backbone the value was published for, since a smaller model of the family is expected to differ. A value
for the grid's own backbone is matched to it alone.

Reading and checking the file is the only I/O here; matching is a pure function of data frames.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from revmux.backbones.registry import known_backbones, resolve_backbone
from revmux.core.errors import RevmuxError
from revmux.data.tasks import known_tasks
from revmux.multiplexing.methods import canonical_method, method_traits

REFERENCE_COLUMNS = ["task", "backbone", "method", "n", "value", "source"]
REFERENCE_KEYS = ["task", "backbone", "method", "n"]
EXAMPLE_ROW = 'sst-2,bert-base-uncased,revmux,2,<accuracy %>,"<paper>, Table <k>"'
MATCH_COLUMNS = ["task", "backbone", "method", "n", "p", "published_backbone", "published", "source", "ours",
                 "ours_ci_low", "ours_ci_high", "difference", "outside_interval"]


def _refuse(path: Path, line: int, problem: str, fix: str) -> None:
    raise RevmuxError(f"reference file {path}, line {line}: {problem}; {fix}")


def _check_row(path: Path, line: int, row: dict) -> dict:
    """One row as typed values, or an error naming its line, what is wrong and what to write instead."""
    task = row["task"].strip().lower()
    if task not in known_tasks():
        _refuse(path, line, f"unknown task {row['task']!r}", f"use one of {', '.join(known_tasks())}")
    backbone = row["backbone"].strip()
    if backbone not in known_backbones():
        _refuse(path, line, f"unknown backbone {backbone!r}",
                f"use a registered backbone (`revmux backbones`), e.g. {', '.join(known_backbones()[:4])}")
    try:
        method = canonical_method(row["method"].strip())
        traits = method_traits(method)
    except RevmuxError as error:
        _refuse(path, line, f"unknown method {row['method']!r} ({error})",
                "use identity (or teacher), adapter, ora, revmux, hadamard, truncate or <method>+<scheme>")
    try:
        n = int(row["n"])
    except ValueError:
        _refuse(path, line, f"n {row['n']!r} is not a whole number", "write N, the instances per composite (1 for the teacher)")
    if traits["multiplexes"] and n < 2:
        _refuse(path, line, f"{method} multiplexes, but n is {n}", "write the N the value was published for (2 or more)")
    if not traits["multiplexes"] and not traits["trains_backbone"] and n != 1:
        _refuse(path, line, f"{method} does not multiplex, but n is {n}", "write n = 1")
    try:
        value = float(row["value"])
    except ValueError:
        _refuse(path, line, f"value {row['value']!r} is not a number", "write the published accuracy in %, a number from 0 to 100")
    if not 0 <= value <= 100:
        _refuse(path, line, f"value {value:g} is outside [0, 100]", "write the accuracy in %, between 0 and 100")
    source = row["source"].strip()
    if not source:
        _refuse(path, line, "no source", "say where the value was published: the paper and its table")
    return {"task": task, "backbone": backbone, "method": method, "n": n, "value": value, "source": source}


def read_references(path: Path) -> pd.DataFrame:
    """The checked rows of a reference file (REFERENCE_COLUMNS, value in %); lines starting with '#' are
    comments. Refuses a missing column, an unknown task, backbone or method, an N the method cannot have, a
    value outside [0, 100], an empty source and a repeated (task, backbone, method, n), naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise RevmuxError(f"reference file {path}: cannot be read ({error.strerror}); pass an existing CSV file") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise RevmuxError(f"reference file {path}: no header; its first line must be {','.join(REFERENCE_COLUMNS)}")
    reader = csv.reader([line for _, line in lines])
    header = [name.strip().lower() for name in next(reader)]
    missing = [column for column in REFERENCE_COLUMNS if column not in header]
    if missing:
        raise RevmuxError(f"reference file {path}, line {lines[0][0]}: the header lacks {', '.join(missing)}; it must "
                          f"name {','.join(REFERENCE_COLUMNS)}, e.g. then {EXAMPLE_ROW}")
    rows, seen = [], {}
    for (number, _), fields in zip(lines[1:], reader):
        if len(fields) != len(header):
            _refuse(path, number, f"{len(fields)} fields, the header has {len(header)}",
                    "quote a field that holds a comma, e.g. " + EXAMPLE_ROW)
        row = _check_row(path, number, dict(zip(header, fields)))
        key = tuple(row[k] for k in REFERENCE_KEYS)
        if key in seen:
            _refuse(path, number, f"{', '.join(map(str, key))} was already given on line {seen[key]}",
                    "keep one published value per task, backbone, method and N")
        seen[key] = number
        rows.append(row)
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def _applies_to(published_backbone: str, backbone: str, grid_backbones: set[str]) -> bool:
    """A published value sits beside the grid's own backbone of that name, else beside every backbone of the
    grid of its family."""
    if published_backbone in grid_backbones:
        return published_backbone == backbone
    try:
        return resolve_backbone(published_backbone).family == resolve_backbone(backbone).family
    except RevmuxError:  # a backbone given as a model directory: matched by name only
        return False


def match_references(summary: pd.DataFrame, references: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (summary cell, published value) that applies to it (MATCH_COLUMNS): ours, published, ours
    minus published in points, and whether the published value lies outside our 95% interval (the summary's
    accuracy interval: seeds, then examples, widened to Student's t over seeds)."""
    if references is None or references.empty or summary.empty:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    grid_backbones = set(summary["backbone"])
    rows = []
    for _, cell in summary.iterrows():
        for _, reference in references[(references.task == cell["task"]) & (references.method == cell["method"])
                                       & (references.n == cell["n"])].iterrows():
            if not _applies_to(reference["backbone"], cell["backbone"], grid_backbones):
                continue
            ours, low, high = (cell[key] * 100 for key in ("accuracy_mean", "accuracy_ci_low", "accuracy_ci_high"))
            rows.append({
                "task": cell["task"], "backbone": cell["backbone"], "method": cell["method"], "n": cell["n"],
                "p": cell["p"], "published_backbone": reference["backbone"], "published": reference["value"],
                "source": reference["source"], "ours": ours, "ours_ci_low": low, "ours_ci_high": high,
                "difference": ours - reference["value"],
                "outside_interval": bool(not low <= reference["value"] <= high),
            })
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)

