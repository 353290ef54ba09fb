"""Shared fixtures: the offline data (the team's ../shared folder, or the small copy in tests/fixtures),
the asset cache (fetched once per session) and the hub check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# ../shared holds the full GLUE files and stories260K; tests/fixtures holds real excerpts of them in the
# same layout (the first 300 training and 150 dev rows of each task, stories260K's weights), so that a
# clone without ../shared still runs the suite. Set before revmux is imported: the registry reads it.
_shared = Path(os.environ.get("REVMUX_SHARED", ROOT.parent / "shared"))
FULL_DATA = (_shared / "data" / "glue" / "SST-2" / "train.tsv").is_file()
if not FULL_DATA:
    if os.environ.get("REVMUX_REQUIRE_SHARED"):
        raise pytest.UsageError(f"REVMUX_REQUIRE_SHARED is set but {_shared} has no data/glue: put ../shared beside the clone")
    os.environ["REVMUX_SHARED"] = str(FIXTURES)
    os.environ.pop("REVMUX_GLUE_DIR", None)

from revmux.core.hub import hub_reachable  # noqa: E402
from revmux.core.layout import default_glue_dir, resources_dir  # noqa: E402

# Tests whose expectations hold only for the full files (row counts, label balance, sizes of subsamples).
requires_full_data = pytest.mark.skipif(
    not FULL_DATA, reason="needs the full GLUE files of ../shared (only the excerpts in tests/fixtures are here)"
)

requires_hub = pytest.mark.skipif(
    not hub_reachable(), reason="the Hugging Face hub is not reachable from this machine"
)


@pytest.fixture(scope="session")
def resources():
    """The project's asset cache with what the tests use, fetched if missing (a no-op when intact)."""
    from revmux.backbones.load import fetch_backbone
    from revmux.backbones import resolve_backbone
    from revmux.data import fetch_task_assets

    directory = resources_dir()
    for name in ("minilm-l6", "smollm2-135m"):
        fetch_backbone(resolve_backbone(name), directory)
    fetch_task_assets("rt-polarity", directory)
    return directory


@pytest.fixture(scope="session")
def glue_dir():
    directory = default_glue_dir()
    if not (directory / "SST-2" / "dev.tsv").is_file():
        pytest.fail(f"the GLUE files are expected at {directory} (set REVMUX_GLUE_DIR)")
    return directory


@pytest.fixture(scope="session")
def glue_run(tmp_path_factory, resources):
    """config/glue-cpu.yaml cut to RTE, run for real with `snakemake --cores 2` in a copy of the project."""
    from workflow_run import GLUE_RUN, copy_project, snakemake

    workdir = copy_project(tmp_path_factory.mktemp("glue-run"))
    first = snakemake("--cores", "2", *GLUE_RUN, cwd=workdir, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return workdir
