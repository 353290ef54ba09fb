"""The Snakemake workflow as users run it: lint, dry runs of every shipped configuration, refusal
of bad configurations, and a real run of a small GLUE configuration that a second run leaves alone."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from revmux.workflow.multiplexing import build_grid, check_config, coerce_command_line_values, ConfigError
from revmux.core.schemas import load_result, schema_path

from workflow_run import GLUE_RUN, ROOT, snakemake, workflow_env


def job_count(output: str, rule: str) -> int:
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule and parts[1].isdigit():
            return int(parts[1])
    raise AssertionError(f"no job count for {rule} in:\n{output}")


def test_lint_has_nothing_to_say():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


@pytest.mark.parametrize(("configfile", "trainings", "truncations", "evaluations", "profiles"), [
    # rt-polarity x minilm x (teacher + 4 methods x N in {2,4}) trained; truncation matched to each N; the int8
    # teacher evaluated without training; 4 methods x 2 N + 2 truncations + the int8 teacher timed, and the caching
    # pair's RevMUX N = 4 also at 16 and 32 tokens (its cost lengths)
    (None, 9, 2, 12, 13),
    # the same, and every trained model also on int8 (10 more evaluations), timed at batch 1, 8, 32 and 128
    # (multiplexers at 8, 32 and 128: 16 x 3 + 5 x 4)
    ("config/alternatives.yaml", 9, 2, 22, 68),
    ("config/glue-cpu.yaml", 18, 0, 18, 4),  # 3 tasks x 2 backbones x (teacher + 2 methods x N=2); 2 backbones x 2 methods
    # SST-2, RTE, MRPC (QNLI has no training split here) x 2 backbones x 3 seeds x (teacher + 4 methods x 2 N);
    # a truncation per N; those and the int8 teacher evaluated too; 2 backbones x (8 + 2 truncations + int8) timed
    ("config/paper-cpu.yaml", 162, 36, 216, 22),
    # 4 tasks x 5 backbones x (teacher + 4 methods x 2 N) x 3 seeds (each seed fine-tunes its own teacher); x 2 batch sizes
    ("config/paper.yaml", 540, 0, 540, 80),
])
def test_every_shipped_configuration_dry_runs_with_its_full_grid(configfile, trainings, truncations, evaluations, profiles):
    args = ["-n", "--forceall", "--quiet", "rules"] + (["--configfile", configfile] if configfile else [])
    result = snakemake(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "train") == trainings
    assert job_count(result.stdout, "evaluate") == evaluations
    assert job_count(result.stdout, "speed") == profiles
    if truncations:
        assert job_count(result.stdout, "truncation") == truncations
    else:
        assert "truncation" not in result.stdout


def test_the_batching_defaults_serve_every_system_and_sweep_statics_timeout_at_the_loads():
    # config/batching-cpu.yaml's own plan: tests/test_batching_grid.py
    override = ["--config", "batching={enabled: true}"]
    result = snakemake("-n", "--forceall", "--quiet", "rules", *override)
    assert result.returncode == 0, result.stdout + result.stderr
    # one job per workload and seed, serving all of its systems: 3 seeds x (offline + closed8) by the 9
    # systems, 3 seeds x 5 loads by the 9 and static's timeout sweep; a reference per seed, a trace per load
    assert job_count(result.stdout, "batching_serve") == 6
    assert job_count(result.stdout, "batching_serve_load") == 15
    assert job_count(result.stdout, "batching_reference") == 3
    assert job_count(result.stdout, "batching_load_trace") == 15
    commands = snakemake("-n", "--forceall", "-p", *override).stdout
    systems = "static padded-iteration orca baton baton-no-split hf-static hf-continuous hf-continuous-orca unbatched"
    assert commands.count(f"--systems {systems} --max-batch 8 --timeout 0.05 ") == 6
    # static-t0.05-b8 is static itself, which serves every workload
    assert commands.count(f"--systems {systems} static-t0-b8 static-t0.5-b8 static-t2-b8 --max-batch 8 ") == 15
    assert "runs/s0/offline/{system}.json" in commands and "runs/s2/load0.25/{system}.json" in commands


def test_the_default_run_has_one_caching_suite_job_per_table_and_its_report():
    result = snakemake("-n", "--forceall", "--quiet", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "caching_suite") == 2
    assert job_count(result.stdout, "caching_pair") == 1
    assert job_count(result.stdout, "caching_report") == 1
    commands = snakemake("-n", "--forceall", "-p").stdout
    for scenario in ("offline", "online"):
        assert f"cache-suite --runs 100 --requests 10000 --queries 20 --cache-size 8 --scenario {scenario}" in commands
    # The pair reads the RevMUX N = 4 run and the teacher (identity run), both timed side by side in one speed
    # profile per cost length.
    profiles = " ".join(f"results/speed/minilm-l6/revmux-n4-p3-b32-len{n}.json" for n in (16, 32, 64))
    assert (f"cache-pair --small-run results/rt-polarity/minilm-l6/revmux-n4-p3-s0 --small-speeds {profiles} "
            f"--large-run results/rt-polarity/minilm-l6/identity-n1-p3-s0 --large-speeds {profiles} "
            "--cost-lengths 16 32 64") in commands


def test_the_second_caching_pair_reads_the_truncated_model_and_the_teacher_timed_side_by_side():
    commands = snakemake("-n", "--forceall", "-p", "--configfile", "config/caching-pairs.yaml").stdout
    profiles = " ".join(f"results/speed/minilm-l6/truncate-n1-p1-b32-len{n}.json" for n in (16, 32, 64))
    assert (f"cache-pair --small-run results/rt-polarity/minilm-l6/truncate-n1-p1-s0 --small-speeds {profiles} "
            f"--large-run results/rt-polarity/minilm-l6/identity-n1-p1-s0 --large-speeds {profiles} "
            "--cost-lengths 16 32 64") in commands
    assert "revmux --threads 1 speed --backbone minilm-l6 --method truncate --n 1 -p 1" in commands


@pytest.mark.parametrize("pair, message", [
    ({"small": "minilm-l6/revmux4", "large": "minilm-l6/teacher"}, "is not <backbone>/teacher or <backbone>/<method>-n<N>"),
    ({"small": "bert/revmux-n4", "large": "minilm-l6/teacher"}, "backbone 'bert' is not trained by this configuration"),
    ({"small": "minilm-l6/revmux-n8", "large": "minilm-l6/teacher"}, "N = 8 is not in `compose_sizes`"),
])
def test_a_bad_caching_pair_is_refused_before_any_job(pair, message):
    import json

    override = "caching=" + json.dumps({"enabled": True, "pairs": {"p": pair}})
    result = snakemake("-n", "--config", override)
    assert result.returncode != 0
    assert "caching.pairs.p" in result.stdout + result.stderr and message in result.stdout + result.stderr
    assert "or leave the pairs out: --config caching='{pairs: {}}'" in result.stdout + result.stderr


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml", "config/batching-cpu.yaml"])
def test_a_dry_run_never_imports_torch(configfile):
    # torch made unimportable: planning the grid must not need it (it takes seconds to import, and a login
    # node may not have it at all).
    command = [sys.executable, "-c", "import sys; sys.modules['torch'] = None; from snakemake.cli import main; main()",
               "-n", "--forceall", "--quiet", "rules", "--configfile", configfile]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=workflow_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "batching_serve" if "batching" in configfile else "train") > 0


def test_jobs_run_the_interpreter_that_runs_snakemake(tmp_path):
    # A PATH without this environment's bin/ (a venv that was not activated): every job must still find revmux.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Snakefile", "workflow", "config", "profiles", "environment.yml", "requirements.lock"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    env = {**workflow_env(), "PATH": "/usr/bin:/bin", "REVMUX_RESOURCES": str(tmp_path / "resources")}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "resources/fetched/task-rt-polarity.done"],
                            cwd=project, capture_output=True, text=True, timeout=600, env=env)
    log = project / "logs" / "fetch" / "task-rt-polarity.log"
    assert result.returncode == 0, result.stdout + result.stderr + (log.read_text() if log.exists() else "")


@pytest.mark.parametrize(("configfile", "profiles"), [
    # 5 shapes x 4 methods x 3 N x 2 batch sizes
    ("config/gpu-shapes.yaml", 120),
    # 2 shapes x (revmux and revmux+bfloat16 x 2 N x batch 8, 32, 128; truncate x 2 N x 4 batches; the bf16 and
    # fp16 teachers x 4 batches)
    ("config/gpu-alternatives.yaml", 56),
])
def test_the_gpu_configurations_only_time(configfile, profiles):
    # nothing trained (--forceall: counts do not depend on what exists)
    result = snakemake("speed_all", "-n", "--forceall", "--quiet", "rules", "--configfile", configfile)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "speed") == profiles
    assert "train" not in result.stdout.split()


def test_t5_is_timed_with_its_teachers_soft_prompt_and_others_without():
    result = snakemake("speed_all", "-n", "--forceall", "-p", "--configfile", "config/gpu-shapes.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    commands = [line for line in result.stdout.splitlines() if "revmux" in line and " speed " in line]
    t5 = [c for c in commands if "--backbone t5-small-random" in c]
    bert = [c for c in commands if "--backbone bert-base-uncased-random" in c]
    assert t5 and all("--soft-prompt-length 20" in c for c in t5)  # the teacher block's prompt_length
    assert bert and all("--soft-prompt-length 0" in c for c in bert)


@pytest.mark.parametrize(("override", "message"), [
    ("tasks=[cola]", "config key tasks: unknown task 'cola'"),
    ("compose_sizes=[5]", "config key compose_sizes: method .* choose an N that divides 384"),
    ('backbones={"minilm-l6": {"prefill_layers": [6]}}', r"config key backbones.minilm-l6.prefill_layers: P = 6 is outside \[0, 6\)"),
    ("methods=[datamux]", "config key methods: unknown method 'datamux'"),
    ('speed={"batch_sizes": [30]}', "config key speed.batch_sizes: no batch size is a multiple of N = 4"),
    ('truncation={"depths": [9]}', r"config key truncation.depths: depth 9 is outside \[1, 6\] for minilm-l6"),
    ("methods=[identity+int4]", "config key methods: unknown quantization 'int4' in method 'identity\\+int4'"),
    ("dtype=int8", "config key dtype: int8 is a post-training quantization"),
    ('speed={"shapes": {"t5-huge": {"prefill_layers": [1]}}}', "config key speed.shapes: unknown backbone"),
    ('data={"glue_dir": "/nonexistent", "source": "local"}', "config key data.glue_dir: GLUE task .* not found under /nonexistent"),
])
def test_a_bad_configuration_is_refused_before_any_job_with_the_key_to_fix(override, message):
    args = ["-n", "--config", override]
    if "glue_dir" in override:
        args = ["-n", "--configfile", "config/glue-cpu.yaml", "--config", override]
    result = snakemake(*args)
    assert result.returncode != 0
    import re

    assert re.search(message, result.stdout + result.stderr), result.stdout + result.stderr


def test_a_typo_in_a_per_backbone_override_is_refused_with_its_name():
    override = 'backbones={"minilm-l6": {"prefill_layers": [3], "training": {"epoch": 3}}}'
    result = snakemake("-n", "--config", override)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config key backbones.minilm-l6.training.epoch: unknown key" in output


def test_schema_command_line_and_dataclasses_share_their_defaults():
    import argparse

    import yaml

    from revmux.cli import common, teacher
    from revmux.multiplexing.config import AdapterConfig, DataConfig, TeacherConfig, defaults
    from revmux.multiplexing.config import SpeedSettings

    schema = yaml.safe_load(schema_path("config").read_text())["properties"]
    blocks = {
        "teacher": (TeacherConfig, {}),
        "training": (AdapterConfig, {}),
        "evaluation": (AdapterConfig, {"regroupings": "eval_regroupings", "batch_size": "eval_batch_size"}),
        "data": (DataConfig, {"source": None, "glue_dir": None}),
        "speed": (SpeedSettings, {}),
    }
    compared = 0
    for block, (cls, renames) in blocks.items():
        fields = defaults(cls)
        for key, spec in schema[block]["properties"].items():
            field = renames.get(key, key)
            if field is None or field not in fields or "default" not in spec:
                continue
            assert spec["default"] == fields[field], f"schema {block}.{key} defaults to {spec['default']}, {cls.__name__}.{field} to {fields[field]}"
            compared += 1
    assert compared >= 20

    parsers = {"train": (common.add_run_arguments, AdapterConfig), "teacher": (teacher.add_arguments, TeacherConfig)}
    for name, (add, cls) in parsers.items():
        parser = argparse.ArgumentParser()
        add(parser)
        parsed = {action.dest: action.default for action in parser._actions}
        for field, value in {**defaults(cls), **defaults(DataConfig)}.items():
            if field in parsed and field not in ("task", "source", "glue_dir", "resources"):
                assert parsed[field] == value, f"revmux {name} --{field.replace('_', '-')} defaults to {parsed[field]}, {cls.__name__}.{field} to {value}"


def test_a_new_teacher_reruns_everything_built_on_it(tmp_path):
    import time

    from workflow_run import copy_project

    project = copy_project(tmp_path / "project")
    (project / "resources").unlink()  # only empty stand-ins are written below: keep them off the real cache
    config = ["--config", "methods=[teacher,revmux]", "compose_sizes=[2]", "caching={enabled: false}"]
    listing = snakemake("--summary", *config, cwd=project)
    assert listing.returncode == 0, listing.stderr
    for line in listing.stdout.splitlines()[1:]:  # stand-ins for a finished grid, then marked up to date
        path = project / line.split("\t")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert snakemake("--touch", "--cores", "1", *config, cwd=project).returncode == 0
    assert "Nothing to be done" in snakemake("-n", *config, cwd=project).stdout
    time.sleep(1.1)
    (project / "results" / "rt-polarity" / "minilm-l6" / "stage0-teacher-s0" / "teacher.safetensors").touch()
    result = snakemake("-n", *config, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "prefill") == 1
    assert job_count(result.stdout, "train") == 2 and job_count(result.stdout, "evaluate") == 2


def test_command_line_strings_become_numbers_again():
    config = {"seeds": ["0", "1"], "training": {"lr": "1e-4", "reuse_prefill": "false"}, "tasks": ["sst-2"], "x": "null"}
    assert coerce_command_line_values(config) == {
        "seeds": [0, 1], "training": {"lr": 1e-4, "reuse_prefill": False}, "tasks": ["sst-2"], "x": None,
    }


def test_grid_runs_the_teacher_once_per_p_and_seed_and_every_method_per_n_and_seed():
    config = {
        "tasks": ["rte"], "backbones": {"minilm-l6": {"prefill_layers": [2, 3]}}, "methods": ["teacher", "revmux"],
        "compose_sizes": [2, 4], "seeds": [0, 1], "data": {"source": "local", "glue_dir": None},
        "speed": {"enabled": True, "shapes": {}, "batch_sizes": [32], "lengths": [64]},
    }
    check_config(config)
    grid = build_grid(config)
    teacher = grid[grid.method == "identity"]  # the alias resolved
    assert len(teacher) == 2 * 2 and set(teacher.n) == {1} and set(teacher.seed) == {0, 1}
    assert len(grid[grid.method == "revmux"]) == 2 * 2 * 2
    with pytest.raises(ConfigError, match="config key compose_sizes"):
        check_config({**config, "compose_sizes": [1]})


@pytest.mark.slow
def test_a_small_glue_run_completes_and_a_second_run_has_nothing_to_do(glue_run):
    metrics = sorted(glue_run.glob("results/rte/*/*-n*-p*-s0/metrics.json"))
    assert len(metrics) == 6  # 2 backbones x (teacher, revmux, ora)
    profiles = sorted(glue_run.glob("results/speed/*/*.json"))
    assert len(profiles) == 4  # 2 backbones x (revmux, ora)
    for path in profiles:
        assert load_result(path, "speed")["speedup"]["measured"] > 0
    summary = (glue_run / "results" / "tables" / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 6
    assert len(list(glue_run.glob("results/plots/*.svg"))) == 2 * 5  # 2 backbones x 5 figures
    second = snakemake("--cores", "2", *GLUE_RUN, cwd=glue_run)
    assert second.returncode == 0
    assert "Nothing to be done" in second.stdout + second.stderr


@pytest.mark.slow
def test_a_changed_training_key_reruns_its_jobs_and_they_succeed(glue_run, tmp_path):
    # In a copy, so that the other tests keep the finished run as it was.
    workdir = tmp_path / "rerun"
    shutil.copytree(glue_run, workdir, symlinks=True)
    run = "results/rte/minilm-l6/revmux-n2-p3-s0"
    before = json.loads((workdir / run / "history.json").read_text())
    changed = snakemake("--cores", "2", *GLUE_RUN, "training={epochs: 1, lr: 5.0e-4}", "--", f"{run}/metrics.json",
                        cwd=workdir)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    after = json.loads((workdir / run / "history.json").read_text())
    assert after["config"]["lr"] == 5.0e-4 and len(after["history"]) == 1 + 1  # epoch 0 (untrained) and epoch 1
    assert before["config"]["lr"] != after["config"]["lr"]
    assert not (workdir / run / "checkpoint.pt").exists()  # a finished run leaves none behind


@pytest.mark.slow
def test_the_report_renders_its_summary_table_and_figures_in_chromium(glue_run):
    from report_check import check_report, chromium_path

    report = glue_run / "reports" / "report.html"
    report.parent.mkdir(exist_ok=True)
    built = snakemake("--cores", "2", *GLUE_RUN, "--report", str(report), cwd=glue_run)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    if chromium_path() is None:
        if os.environ.get("REVMUX_REQUIRE_BROWSER"):
            pytest.fail("REVMUX_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("no chromium here to look at the report (apt-get install chromium)")
    from revmux.core.layout import FIGURES

    screenshots = ROOT / "reports" / "screenshots"
    seen = check_report(report, screenshots, list(FIGURES.values()), ["minilm-l6", "stories260k"], min_summary_rows=6)
    assert seen["summary_rows"] == 6
    assert len(seen["figures"]) == len(FIGURES) * 2 and set(seen["figures"].values()) == {1}
    shutil.copy(report, ROOT / "reports" / "ci-report.html")


def test_the_configuration_readme_explains_every_key_and_shipped_file():
    import yaml

    readme = (ROOT / "config" / "README.md").read_text()
    schema = yaml.safe_load(schema_path("config").read_text())["properties"]
    missing = []
    for key, spec in schema.items():
        names = [f"{key}.{sub}" for sub in spec["properties"]] if "properties" in spec else [key]
        # sub-keys may be listed together (`training.epochs`, `.batch_size`): look for the key or `.sub`
        missing += [name for name in names if f"`{name}`" not in readme and f"`.{name.split('.')[-1]}`" not in readme]
    assert not missing, f"config/README.md does not explain {missing}"
    shipped = sorted(path.name for path in (ROOT / "config").glob("*.yaml"))
    assert all(f"`{name}`" in readme for name in shipped), shipped


def test_timing_jobs_hold_every_core_while_other_jobs_share_them():
    # The default config's threads per rule: training and evaluation at 1 (two side by side on 2 cores),
    # timings at 2 with every core held, so nothing runs beside a measurement, whatever --cores says.
    result = snakemake("-n", "--forceall", "-p", "--cores", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = result.stdout.split("\n\n")
    speed = [job for job in jobs if "revmux --threads" in job and " speed " in job]
    train = [job for job in jobs if "revmux --threads" in job and " train " in job]
    assert speed and train
    assert all("2 threads, 4 cores held" in job and "revmux --threads 2 speed" in job for job in speed)
    assert all("revmux --threads 1 train" in job for job in train)
    # per rule: stage 0 runs alone on the critical path, on both cores
    assert any("revmux --threads 2 teacher" in job for job in jobs)
