"""What the command line tells its users: every flag a message names exists, the global options work on
either side of the verb, option names mean one thing across verbs, and a refusal names what is wrong."""

import argparse
import ast
import json
import re
import shlex
from pathlib import Path

import pytest

from revmux.cli.main import VERBS, build_parser, main
from revmux.core.differences import setting_differences

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Flags of other programs that the source passes or quotes; each is checked against that program, not ours.
OTHER_PROGRAMS = {
    "--config": "snakemake: `--config caching='{...}'` in config errors, and its nested values in a docstring",
    "--configfile": "snakemake: a configuration file given on its command line",
    "--no-deps": "pip: `pip download --no-deps` fetches the pinned wheels, and the fetch error quotes it",
    "--only-binary": "pip download",
    "--disable-pip-version-check": "pip download",
    "--dest": "pip download",
    "--porcelain": "git status, for the provenance's dirty flag",
    "--untracked-files": "git status",
}


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {"": parser, **subparsers.choices}


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_every_flag_the_source_names_exists():
    known = set().union(*map(option_strings, verb_parsers().values()))
    unknown = []
    for path in sorted((ROOT / "revmux").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                unknown += [f"{path.relative_to(ROOT)}:{node.lineno}: {flag}" for flag in FLAG.findall(node.value)
                            if flag not in known and flag not in OTHER_PROGRAMS]
    assert not unknown, "flags no verb has:\n" + "\n".join(unknown)


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """The least a verb parses: a value of the right kind for each required option and positional."""
    arguments = []
    for action in parser._actions:
        if not action.required:
            continue
        value = action.choices[0] if action.choices else "1" if action.type in (int, float) else "x"
        arguments += [*action.option_strings[:1], *[str(value)] * (action.nargs if isinstance(action.nargs, int) else 1)]
    return arguments


@pytest.mark.parametrize("verb", VERBS)
def test_global_options_work_after_the_verb_and_the_later_one_wins(verb):
    parser, required = build_parser(), required_arguments(verb_parsers()[verb])
    after = parser.parse_args([verb, *required, "--threads", "2", "-v"])
    assert (after.threads, after.verbose) == (2, True)
    before = parser.parse_args(["--threads", "3", "--verbose", verb, *required])
    assert (before.threads, before.verbose) == (3, True)
    both = parser.parse_args(["--threads", "3", verb, *required, "--threads", "1"])
    assert (both.threads, both.verbose) == (1, False)
    neither = parser.parse_args([verb, *required])
    assert (neither.threads, neither.verbose) == (None, False)


# Lists of files named after the kind of file (aggregate's --metrics and --speed: metrics.json, speed.json; plots'
# --history: history.json; cache-report's --suite: the parts of `revmux cache-suite`'s one suite; serve-report's
# --served: what `revmux serve` wrote), not plurals.
FILE_KIND_NAMES = {"--speed", "--history", "--suite", "--served"}


def test_options_taking_several_values_are_plural_and_a_seed_is_one_seed():
    for verb, parser in verb_parsers().items():
        for action in parser._actions:
            for option in action.option_strings:
                if action.nargs in ("+", "*") and option not in FILE_KIND_NAMES:
                    assert option.endswith("s"), f"{verb} {option} takes several values: name it in the plural"
                # `--seed` is one seed everywhere; a count of seeded runs is `--runs N`.
                assert option != "--seeds", f"{verb} {option}: a count of seeded runs is --runs"
                if option in ("--seed", "--runs"):  # one seed; a count of seeded runs, never a list of files
                    assert action.nargs is None and action.type is int, f"{verb} {option}"


def test_the_caching_verbs_name_policies_selectors_and_runs_alike():
    parsers = verb_parsers()
    for option in ("--policies", "--selectors"):
        assert {option} <= option_strings(parsers["cache-replay"]) & option_strings(parsers["cache-pair"])
    pair = build_parser().parse_args(["cache-pair", *required_arguments(parsers["cache-pair"]), "--runs", "3"])
    assert pair.seeds == 3  # the grid's count of seeded traces
    assert build_parser().parse_args(["cache-suite", "--out", "x", "--runs", "3"]).runs == 3


def test_settings_differences_name_each_key_with_both_values():
    trained = {"data": {"task": "sst-2", "train_size": 2000, "max_length": 64}, "lr": 2e-5, "n": 2, "shape": [2, 3]}
    given = {"data": {"task": "sst-2", "train_size": None, "max_length": 64}, "lr": 1e-4, "n": 2, "shape": (2, 3),
             "reuse_prefill": True}
    assert setting_differences(trained, given) == [
        "data.train_size: trained 2000, given None",
        "lr: trained 2e-05, given 0.0001",
        "reuse_prefill: trained (absent), given True",  # a setting added since the run was trained
    ]
    assert setting_differences(trained, trained) == []


def test_evaluate_with_other_settings_than_training_names_them(tmp_path, capsys):
    from revmux.core.layout import HISTORY
    from revmux.multiplexing.config import AdapterConfig, DataConfig, run_dir, to_dict

    run = ["--task", "rt-polarity", "--backbone", "minilm-l6", "--method", "revmux", "--n", "2", "-p", "3",
           "--results", str(tmp_path)]
    trained = AdapterConfig(DataConfig("rt-polarity", train_size=1000), "minilm-l6", "revmux", 2, 3, lr=1e-4)
    out = run_dir(tmp_path, trained)
    out.mkdir(parents=True)
    (out / HISTORY).write_text(json.dumps({"config": to_dict(trained)}))
    assert main(["evaluate", *run, "--train-size", "2000"]) == 2
    error = capsys.readouterr().err
    assert "data.train_size: trained 1000, given 2000" in error and "lr: trained 0.0001, given 2e-05" in error
    assert len(error.splitlines()) == 1


def test_a_missing_serve_result_is_called_missing_with_what_writes_it(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    assert main(["serve-report", "--served", str(missing), "--tables", str(tmp_path), "--plots", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert f"{missing}: no such run result" in error and f"revmux serve --out {missing}" in error
    assert "delete" not in error


def test_a_missing_suite_or_pair_result_is_called_missing_with_what_writes_it(tmp_path, capsys):
    assert main(["cache-report", "--suite", str(tmp_path / "suite.csv"), "--tables", str(tmp_path)]) == 2
    assert "no such suite result; `revmux cache-suite --out" in capsys.readouterr().err
    assert main(["cache-report", "--pairs", str(tmp_path / "pair"), "--tables", str(tmp_path)]) == 2
    assert f"{tmp_path / 'pair' / 'replays.csv'} is missing); `revmux cache-pair --out" in capsys.readouterr().err


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/batching-cpu.yaml"])
def test_every_command_the_workflow_runs_parses(configfile):
    """The rules and the argument builders of revmux/workflow pass only flags the verbs have."""
    from workflow_run import snakemake

    result = snakemake("-n", "-p", "--forceall", "--configfile", configfile)
    assert result.returncode == 0, result.stdout + result.stderr
    commands = [line.split(" -m revmux ", 1)[1] for line in result.stdout.splitlines() if " -m revmux " in line]
    assert commands
    for command in commands:
        words = shlex.split(command)
        words = words[:words.index(">")] if ">" in words else words
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"the workflow runs `revmux {command}`, which does not parse")


def test_zero_threads_is_refused_at_the_command_line_not_by_torch(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--threads", "0", "backbones"])
    assert "0 is not a positive number of threads" in capsys.readouterr().err


def test_only_jobs_that_read_a_glue_folder_carry_its_path():
    # An absolute path in every job's params would rerun the whole grid when the clone moves.
    from revmux.workflow.multiplexing import data_arguments

    config = {"data": {"max_length": 64, "source": None, "glue_dir": "/somewhere/glue"}, "device": "cpu", "tasks": ["rt-polarity", "rte"]}
    assert "--glue-dir" not in data_arguments(config, "rt-polarity", "minilm-l6")
    assert "--glue-dir /somewhere/glue" in data_arguments(config, "rte", "minilm-l6")


def test_a_backbone_can_have_its_own_training_budget_and_keeps_the_shared_held_out_split():
    from revmux.workflow.multiplexing import data_arguments

    config = {"data": {"max_length": 64, "source": None, "glue_dir": None, "train_size": 400, "validation_size": 200,
                       "eval_size": None},
              "backbones": {"minilm-l6": {"prefill_layers": [3], "data": {"train_size": 2000}},
                            "smollm2-135m": {"prefill_layers": [15]}},
              "device": "cpu", "tasks": ["sst-2"]}
    assert "--train-size 2000 --validation-size 200" in data_arguments(config, "sst-2", "minilm-l6")
    assert "--train-size 400 --validation-size 200" in data_arguments(config, "sst-2", "smollm2-135m")
    assert "--eval-size" not in data_arguments(config, "sst-2", "minilm-l6")


def test_a_method_can_have_its_own_training_on_one_backbone_as_the_papers_bert_revmux_and_ora():
    # The paper trains BERT's revmux and ora with InfoNCE weight 0.25 and everything else with 0.5.
    from revmux.workflow.multiplexing import training_arguments

    config = {"training": {"epochs": 2, "batch_size": 32, "lr": 1e-4, "weight_decay": 0.01, "infonce_weight": 0.5,
                           "mapping_weight": 1.0, "mapping_loss": "released", "reuse_prefill": True},
              "evaluation": {"regroupings": 2, "batch_size": 32},
              "backbones": {"bert-base-uncased": {"prefill_layers": [6], "training_by_method": {
                                "revmux": {"infonce_weight": 0.25}, "ora": {"infonce_weight": 0.25}}},
                            "minilm-l6": {"prefill_layers": [3]}}}
    for method in ("revmux", "ora", "revmux+int8"):
        assert "--infonce-weight 0.25 " in training_arguments(config, "bert-base-uncased", method)
    for method in ("adapter", "hadamard", "identity"):
        assert "--infonce-weight 0.5 " in training_arguments(config, "bert-base-uncased", method)
    assert "--infonce-weight 0.5 " in training_arguments(config, "minilm-l6", "revmux")


def test_a_method_override_for_a_method_the_grid_does_not_train_is_refused_naming_the_key():
    import copy

    import yaml
    from snakemake.utils import validate

    from revmux.core.schemas import schema_path
    from revmux.workflow.multiplexing import ConfigError, check_config
    from workflow_run import ROOT

    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["tasks"] = ["rt-polarity"]
    validate(config, schema=str(schema_path("config")))
    check_config(copy.deepcopy(config))  # the paper's own override is accepted
    config["backbones"]["bert-base-uncased"]["training_by_method"]["identity"] = {"infonce_weight": 0.25}
    with pytest.raises(ConfigError, match=r"backbones\.bert-base-uncased\.training_by_method\.identity: not a "
                                          r"multiplexer this grid trains; the trained ones here: adapter, ora"):
        check_config(config)


def test_a_truncation_starts_from_its_seeds_teacher_only_where_that_teacher_is_fully_fine_tuned():
    # MiniLM-L6's teacher fine-tunes every layer: its truncation keeps them, as the multiplexers do. SmolLM2's
    # teacher trains a head on the pretrained decoder: there is nothing of its to start from.
    import yaml

    from revmux.workflow.multiplexing import truncation_starts_from_teacher
    from workflow_run import ROOT

    config = yaml.safe_load((ROOT / "config" / "paper-cpu.yaml").read_text())
    config.setdefault("teacher", {})
    assert truncation_starts_from_teacher(config, "minilm-l6")
    assert not truncation_starts_from_teacher(config, "smollm2-135m")
    config["backbones"]["minilm-l6"]["teacher"] = {"mode": "head"}
    assert not truncation_starts_from_teacher(config, "minilm-l6")
