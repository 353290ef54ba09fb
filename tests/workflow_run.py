"""Running the workflow from tests: snakemake in a subprocess, in a fresh copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# config/glue-cpu.yaml cut to one task: every rule runs for real on ../shared/data/glue.
GLUE_RUN = ["--configfile", "config/glue-cpu.yaml", "--config", "tasks=[rte]"]


def snakemake(*args, cwd=ROOT, timeout=900):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=workflow_env())


def workflow_env() -> dict:
    # Rules call `python -m revmux`: the interpreter running the tests must come first on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": path}
    env.setdefault("REVMUX_SHARED", str(ROOT.parent / "shared"))
    return env


def copy_project(workdir: Path) -> Path:
    """The workflow's files in `workdir`, sharing the fetched assets of this checkout."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "profiles", "environment.yml", "requirements.lock"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, workdir / name)
    resources = Path(os.environ.get("REVMUX_RESOURCES", ROOT / "resources")).resolve()
    (workdir / "resources").symlink_to(resources)
    return workdir
