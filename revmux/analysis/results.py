"""Finding and reading the grid's result files, each checked against its schema.

A broken file (truncated, edited, from an older version) is an error that names it; callers may
choose to skip broken files (`keep_going`), and then every skipped path is reported.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from revmux.core import layout
from revmux.core.errors import RevmuxError
from revmux.core.schemas import load_result

log = logging.getLogger(__name__)

METRICS_GLOB = layout.glob_of(layout.RUN_DIR + "/" + layout.METRICS)
PROFILE_GLOB = layout.glob_of(layout.SPEED_FILE)
PREDICTION_COLUMNS = ["regrouping", "example", "label", "prediction", "teacher_prediction"]


@dataclass
class Run:
    """One evaluated run: its metrics and its per-example predictions."""

    path: Path
    metrics: dict
    predictions: pd.DataFrame


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)
    profile_paths: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: problem" of every broken file skipped


def read_predictions(path: Path) -> pd.DataFrame:
    try:
        with gzip.open(path, "rt") as handle:
            frame = pd.read_csv(handle)
    except FileNotFoundError:
        raise RevmuxError(f"{path}: missing; rerun the evaluate job of this run") from None
    except (OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise RevmuxError(f"{path}: unreadable predictions ({error}); delete the run's metrics.json and rerun it") from None
    missing = [column for column in PREDICTION_COLUMNS if column not in frame.columns]
    if missing:
        raise RevmuxError(f"{path}: predictions lack the columns {', '.join(missing)}; rerun the evaluate job of this run")
    return frame


def _read_run(metrics_path: Path) -> Run:
    metrics = load_result(metrics_path, "metrics")
    predictions = read_predictions(metrics_path.with_name(layout.PREDICTIONS))
    regroupings = len(metrics["accuracy"]["per_regrouping"])
    if predictions["regrouping"].nunique() != regroupings:
        raise RevmuxError(
            f"{metrics_path}: {regroupings} regroupings in metrics but {predictions['regrouping'].nunique()} in its "
            "predictions; the two files come from different evaluations: rerun the evaluate job"
        )
    return Run(metrics_path, metrics, predictions)


def discover(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """Every metrics.json and profile under `results_dir`, whatever configuration wrote them: for looking
    at a results folder by hand. The workflow never uses this; it names the files of its own grid."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise RevmuxError(f"no results directory {results_dir}: run the workflow first (`make run`) or pass --results")
    return sorted(results_dir.glob(METRICS_GLOB)), sorted(results_dir.glob(PROFILE_GLOB))


def collect(metrics: list[Path], profiles: list[Path], keep_going: bool = False) -> Results:
    """Exactly these runs (metrics.json, predictions beside it) and profiles. Raises on the first broken
    file unless `keep_going`."""
    found = Results()
    readers = [(Path(path), _read_run, found.runs) for path in metrics]
    readers += [(Path(path), lambda p: load_result(p, "speed"), found.profiles) for path in profiles]
    for path, read, into in readers:
        try:
            into.append(read(path))
            if into is found.profiles:
                found.profile_paths.append(str(path))
        except RevmuxError as error:
            if not keep_going:
                raise RevmuxError(f"{error} (or pass --keep-going to skip broken files)") from None
            log.warning("skipping %s", error)
            found.skipped.append(str(error))
    if not found.runs and not found.profiles:
        raise RevmuxError("no metrics.json or profile files to aggregate: run the workflow first")
    return found
