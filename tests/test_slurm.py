"""The workflow through a real SLURM cluster (started by .ci/slurm/start.sh; CI sets
REVMUX_REQUIRE_SLURM=1 so that a missing cluster fails instead of skipping): every job goes through
sbatch, a job whose processes are killed is reported with its SLURM log and a rerun completes, and the
results equal those of the same configuration run locally."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from workflow_run import GLUE_RUN, SNAKEMAKE, copy_project, workflow_env

SLURM_RUN = ["--workflow-profile", "profiles/slurm-ci", *GLUE_RUN]
# Jobs that run on the cluster (the fetch, aggregate and plots rules run where snakemake runs):
# 2 backbones x (teacher, prefill, profile of revmux and ora) and 2 backbones x 3 methods x (train, evaluate).
CLUSTER_JOBS = {"teacher": 2, "prefill": 2, "train": 6, "evaluate": 6, "speed": 4}
TIMEOUT_S = 1200


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return result.returncode == 0 and any(state in result.stdout for state in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module")
def cluster():
    if not cluster_is_up():
        if os.environ.get("REVMUX_REQUIRE_SLURM"):
            pytest.fail("REVMUX_REQUIRE_SLURM is set but no SLURM cluster answers: run .ci/slurm/start.sh")
        pytest.skip("no SLURM cluster here (.ci/slurm/install.sh and start.sh start one)")


def sacct(*names: str) -> list[dict]:
    """Jobs of these snakemake runs (the job name is the run's id), with their rule from the comment."""
    output = subprocess.run(
        ["sacct", "-X", "-n", "--parsable2", "--starttime", "now-1days", "--format=JobID,JobName%60,State,Comment%200",
         "--name", ",".join(names)], capture_output=True, text=True, check=True,
    ).stdout
    jobs = []
    for line in output.splitlines():
        job_id, name, state, comment = line.split("|", 3)
        jobs.append({"id": job_id, "run": name, "state": state, "comment": comment,
                     "rule": re.match(r"rule_(.+?)_wildcards", comment).group(1) if comment.startswith("rule_") else comment})
    return jobs


def run_ids(output: str) -> list[str]:
    """The runs' ids: the plugin names every job after its run (`sbatch --job-name <id>`, shown with --verbose)."""
    return sorted(set(re.findall(r"job-name ([0-9a-f-]{36})", output)))


def kill_first_training_job(process: subprocess.Popen) -> str:
    """Wait until a train job runs on the cluster, then kill its processes (as the kernel's OOM killer
    or a node problem would): SLURM records the job as FAILED. (`scancel` would give "CANCELLED by
    <uid>", which plugin 2.8.0 does not recognise as finished: snakemake then waits on it forever.)"""
    deadline = time.monotonic() + TIMEOUT_S / 2
    while time.monotonic() < deadline and process.poll() is None:
        listing = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            job_id, comment = line.split("|", 1)
            if comment.startswith("rule_train_"):
                # A job SLURM lists as RUNNING may not have registered its processes yet (listpids then
                # exits 1) or may have none left: look again on the next poll rather than fail.
                listing = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True)
                pids = [int(line.split()[0]) for line in listing.stdout.splitlines()[1:]
                        if line.split() and line.split()[0].isdigit()]
                killed_any = False
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed_any = True
                    except ProcessLookupError:
                        pass
                if killed_any:
                    return job_id
        time.sleep(0.5)
    raise AssertionError("no train job was seen running on the cluster")


@pytest.mark.slow
def test_the_workflow_runs_through_slurm_and_matches_the_local_run(cluster, glue_run, tmp_path):
    workdir = copy_project(tmp_path / "slurm-run")
    command = ["timeout", "-k", "30", str(TIMEOUT_S), *SNAKEMAKE, *SLURM_RUN, "--verbose"]
    first_log = tmp_path / "first-run.log"  # a file, not a pipe: --verbose output would fill a pipe and block
    with first_log.open("w") as log:
        first = subprocess.Popen(command, cwd=workdir, env=workflow_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            killed = kill_first_training_job(first)
            first.wait(timeout=TIMEOUT_S + 60)
        finally:
            if first.poll() is None:
                first.kill()
    output = first_log.read_text()
    assert first.returncode not in (0, 124, 137), output[-3000:]
    # The failure names the job, SLURM's id for it and where its SLURM log is.
    assert "Error in rule train" in output, output[-3000:]
    log_paths = re.findall(r"(\S*logs/slurm/rule_train/\S+/%s\.log)" % killed, output)
    assert log_paths, f"no SLURM log path for killed job {killed} in:\n{output[-3000:]}"
    assert (workdir / log_paths[0]).is_file() or os.path.isfile(log_paths[0])

    second = subprocess.run(command, cwd=workdir, env=workflow_env(), capture_output=True, text=True, timeout=TIMEOUT_S + 60)
    (tmp_path / "second-run.log").write_text(second.stdout + second.stderr)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]

    jobs = sacct(*run_ids(output + second.stdout + second.stderr))
    print("\n".join(f"{j['id']:>6} {j['rule']:<10} {j['state']:<10} {j['comment']}" for j in jobs))
    killed_jobs = [j for j in jobs if j["id"] == killed]
    assert killed_jobs and killed_jobs[0]["state"] == "FAILED", killed_jobs
    completed = [j for j in jobs if j["state"] == "COMPLETED"]
    assert all(j["state"] == "COMPLETED" for j in jobs if j["id"] != killed), jobs
    # One completed SLURM job per rule instance: none ran twice, none ran outside SLURM.
    instances = [j["comment"] for j in completed]
    assert len(instances) == len(set(instances)) == sum(CLUSTER_JOBS.values())
    assert {rule: sum(j["rule"] == rule for j in completed) for rule in CLUSTER_JOBS} == CLUSTER_JOBS

    # Same seeds, same thread count per job: the accuracy numbers and every prediction are identical.
    local_runs = sorted(glue_run.glob("results/rte/*/*-n*-p*-s0"))
    assert len(local_runs) == 6
    for local in local_runs:
        remote = workdir / local.relative_to(glue_run)
        local_metrics = json.loads((local / "metrics.json").read_text())
        remote_metrics = json.loads((remote / "metrics.json").read_text())
        for key in ("accuracy", "teacher_accuracy", "config", "data_hashes"):
            assert remote_metrics[key] == local_metrics[key], (remote, key)
        assert gzip.decompress((remote / "predictions.csv.gz").read_bytes()) == \
            gzip.decompress((local / "predictions.csv.gz").read_bytes())
    assert (workdir / "results" / "tables" / "summary.csv").is_file()
