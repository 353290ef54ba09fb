"""Shared fixtures: the asset cache (fetched once per session) and the hub check."""

from __future__ import annotations

import pytest

from revmux.hub import hub_reachable
from revmux.paths import default_glue_dir, resources_dir

requires_hub = pytest.mark.skipif(
    not hub_reachable(), reason="the Hugging Face hub is not reachable from this machine"
)


@pytest.fixture(scope="session")
def resources():
    """The project's asset cache with what the tests use, fetched if missing (a no-op when intact)."""
    from revmux.backbones import fetch_backbone, resolve_backbone
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
