"""--configfile and --config overlay config/config.yaml as in every Snakemake workflow, except that a mapping
whose keys are members of the grid is replaced whole; a configuration the schema refuses is reported in one
line that names the key and what would be right."""

import copy
import subprocess

import pytest
import yaml

from revmux.core.schemas import schema_path
from revmux.workflow.config_errors import check_shape
from revmux.workflow.multiplexing import ConfigError
from revmux.workflow.overlay import GRID_MEMBER_KEYS, replace_grid_members

from test_workflow import job_count
from workflow_run import ROOT, SNAKEMAKE, snakemake, workflow_env

SHIPPED = sorted(path.name for path in (ROOT / "config").glob("*.yaml"))


def planned_commands(*args) -> list[str]:
    """Every job's shell command in a forced dry run, sorted: the jobs and all their parameters."""
    result = snakemake("-n", "--forceall", "-p", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(line for line in result.stdout.splitlines() if line.startswith("Shell command:"))


def overlay_file(tmp_path, text: str) -> str:
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    return str(path)


# Dry-run job counts recorded before --configfile overlaid the default (each file then replaced it): the
# shipped files set back what they must not inherit, so overlaying changes none of their grids.
@pytest.mark.parametrize(("configfile", "target", "jobs"), [
    (None, None, 47),
    ("alternatives.yaml", None, 108),
    ("batching-cpu.yaml", None, 46),
    ("batching-gpu.yaml", None, 9),
    ("caching-pairs.yaml", None, 18),
    ("config.yaml", None, 47),
    ("glue-cpu.yaml", None, 60),
    ("gpu-alternatives.yaml", None, 78),
    ("gpu-alternatives.yaml", "speed_all", 59),  # how it is meant to run
    ("gpu-shapes.yaml", None, 157),
    ("gpu-shapes.yaml", "speed_all", 126),
    ("paper.yaml", None, 1292),
    ("paper-cpu.yaml", None, 480),  # QNLI left out: its training split is not in the team's GLUE folder
    ("paper-cpu.yaml", "speed_all", 25),  # its first step
])
def test_every_shipped_configuration_keeps_its_grid_when_it_overlays_the_default(configfile, target, jobs):
    args = ([target] if target else []) + ["-n", "--forceall", "--quiet", "rules"]
    result = snakemake(*args, *(["--configfile", f"config/{configfile}"] if configfile else []))
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_count(result.stdout, "total") == jobs


def test_the_table_of_counts_covers_every_shipped_configuration():
    covered = {"alternatives.yaml", "batching-cpu.yaml", "batching-gpu.yaml", "caching-pairs.yaml", "config.yaml", "glue-cpu.yaml",
               "gpu-alternatives.yaml", "gpu-shapes.yaml", "paper.yaml", "paper-cpu.yaml"}
    assert set(SHIPPED) == covered, "add the new configuration's dry-run job count to the table above"


def test_an_override_with_the_defaults_own_value_plans_the_default_run(tmp_path):
    assert planned_commands("--configfile", overlay_file(tmp_path, "seeds: [0]\n")) == planned_commands()


def test_an_override_of_one_nested_key_changes_only_that_key(tmp_path):
    # training.lr, the subsample sizes, truncation and int8 stay the default run's
    changed = planned_commands("--configfile", overlay_file(tmp_path, "training: {epochs: 3}\n"))
    default = planned_commands()
    assert sum("--epochs 5 " in command for command in default) == 21  # 9 trainings, 12 evaluations
    assert changed == sorted(command.replace("--epochs 5 ", "--epochs 3 ") for command in default)


@pytest.mark.parametrize("how", ["configfile", "config"])
def test_an_overlay_that_sets_backbones_replaces_the_defaults(tmp_path, how):
    backbones = {"smollm2-135m": {"prefill_layers": [15], "teacher": {"mode": "head"}}}
    overlay = {"backbones": backbones, "caching": {"pairs": {}}}  # the default's pair is minilm-l6's
    if how == "configfile":
        args = ["--configfile", overlay_file(tmp_path, yaml.safe_dump(overlay))]
    else:
        args = ["--config", f"backbones={backbones}", "caching={pairs: {}}"]
    commands = planned_commands(*args)
    trained = [command for command in commands if " train " in command]
    assert len(trained) == 9 and all("--backbone smollm2-135m" in command for command in trained)
    assert not any("minilm-l6" in command for command in commands)


def test_each_overlay_replaces_the_grid_members_set_before_it():
    config = {"backbones": {"a": {"prefill_layers": [1]}, "b": {"prefill_layers": [2]}},
              "speed": {"shapes": {"s": {"prefill_layers": [1]}}, "batch_sizes": [8]}, "caching": {"pairs": {}}}
    file = {"backbones": {"b": {"prefill_layers": [3]}}, "speed": {"batch_sizes": [8]}}
    command_line = {"speed": {"shapes": {"t": {"prefill_layers": [4]}}}}
    merged = copy.deepcopy(config)
    replace_grid_members(merged, [file, command_line])
    assert merged["backbones"] == {"b": {"prefill_layers": [3]}}
    assert merged["speed"] == {"shapes": {"t": {"prefill_layers": [4]}}, "batch_sizes": [8]}
    assert merged["caching"] == config["caching"]


def test_every_mapping_of_grid_members_in_the_schema_is_replaced_by_an_overlay():
    def free_named(schema, path=()):
        """Paths of the mappings whose keys the user names (their values share one schema)."""
        if isinstance(schema.get("additionalProperties"), dict):
            yield ".".join(path)
        for name, subschema in schema.get("properties", {}).items():
            yield from free_named(subschema, (*path, name))

    schema = yaml.safe_load(schema_path("config").read_text())
    assert sorted(free_named(schema)) == sorted(GRID_MEMBER_KEYS)
    readme = (ROOT / "config" / "README.md").read_text()
    assert all(f"`{key}`" in readme for key in GRID_MEMBER_KEYS)


@pytest.mark.parametrize("configfile", [None, *SHIPPED])
def test_the_schema_defaults_are_filled_in_as_snakemakes_validate_did(configfile):
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config" / configfile).read_text()) if configfile else {}
    expected = copy.deepcopy(config)
    validate(expected, schema=str(schema_path("config")))
    check_shape(config)
    assert config == expected


def refusal(override: str) -> list[str]:
    """The lines a user sees when `snakemake -n --config <override>` is refused, stdout and stderr as printed."""
    result = subprocess.run([*SNAKEMAKE, "-n", "--config", override], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=300, env=workflow_env())
    assert result.returncode != 0, result.stdout
    return result.stdout.splitlines()


@pytest.mark.parametrize(("override", "message"), [
    ("compose_size=[2,4]", "config key compose_size: unknown key; did you mean compose_sizes?"),
    ('backbones={"minilm-l6": {"prefill_layers": [3], "training": {"epoch": 3}}}',
     "config key backbones.minilm-l6.training.epoch: unknown key; did you mean backbones.minilm-l6.training.epochs?"),
    ("threads={defaul: 1}", "config key threads.defaul: unknown key; did you mean threads.default?"),
    ("threads=two",
     "config key threads: got 'two'; expected an integer >= 1, or a mapping of rule name to an integer >= 1"),
    ("data={train_size: many}", "config key data.train_size: got 'many'; expected an integer >= 1 or null"),
    ("truncation={depths: match}",
     "config key truncation.depths: got 'match'; expected 'matched', or a non-empty list of integers"),
    ("seeds=[-1]", "config key seeds[0]: got -1; expected an integer >= 0"),
    ("speed={shapes: {t5-small-random: {}}}",
     "config key speed.shapes.t5-small-random.prefill_layers: missing; give a non-empty list of integers"),
    ("tasks=[cola]", "config key tasks: unknown task 'cola'"),  # a semantic check's error, as short
])
def test_a_refused_configuration_is_one_line_naming_the_key_and_what_would_be_right(override, message):
    lines = refusal(override)
    assert any(line.startswith(f"Invalid configuration: {message}") for line in lines[:5]), "\n".join(lines)
    assert len(lines) < 30, "\n".join(lines)
