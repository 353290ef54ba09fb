"""One run's configuration: typed, validated once at the edge, then passed down as plain values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from revmux.backbones import resolve_backbone
from revmux.backbones.registry import DTYPE_CHOICES
from revmux.data import resolve_task
from revmux.core import layout
from revmux.measure.contention import FOREIGN_CPU_TOLERANCE, MAX_DRIFT
from revmux.core.errors import RevmuxError
from revmux.backbones.quantization import check_scheme
from revmux.multiplexing.methods import check_method, method_traits

MAPPING_LOSSES = ("released", "positive-cos")


@dataclass(frozen=True)
class DataConfig:
    task: str
    source: str | None = None  # default: the task's first source (local GLUE files; wheel for rt-polarity)
    glue_dir: str | None = None
    resources: str | None = None
    max_length: int = 64
    train_size: int | None = None  # seeded subsample of the training split; None = all
    validation_size: int | None = None
    eval_size: int | None = None


@dataclass(frozen=True)
class TeacherConfig:
    data: DataConfig
    backbone: str
    mode: str | None = None  # default: the paper's (encoder full fine-tuning, decoder zero-shot, T5 prompt tuning)
    epochs: int = 3
    batch_size: int = 32
    lr: float | None = None  # default per mode
    prompt_length: int = 20
    seed: int = 0
    dtype: str = "auto"  # the frozen backbone's compute dtype for every later stage (revmux.backbones.compute_dtype)
    # Truncation (method `truncate`): (N, P) of the run, from which revmux.multiplexing.methods.truncate picks the
    # layers kept; None = the whole backbone (the teacher).
    truncate: tuple[int, int] | None = None
    # A truncation's starting point: the directory of this seed's fully fine-tuned teacher, whose first layers and
    # head it keeps (what the multiplexers start from too); None = the pretrained backbone and a new head.
    start_from: str | None = None

    @property
    def resolved_mode(self) -> str:
        return self.mode or resolve_backbone(self.backbone).teacher_modes[0]


@dataclass(frozen=True)
class AdapterConfig:
    data: DataConfig
    backbone: str
    method: str
    n: int
    prefill_layers: int
    seed: int = 0
    epochs: int = 50  # the paper's values: this class is the one source of defaults (CLI and schema follow)
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.01
    infonce_weight: float = 0.5
    mapping_weight: float = 1.0
    mapping_loss: str = "released"  # see revmux.multiplexing.losses.mapping_loss
    temperature: float = 0.05
    reuse_prefill: bool = True  # reuse layer-P and teacher states across epochs, methods, N and seeds
    eval_regroupings: int = 10
    eval_batch_size: int = 32
    eval_seed: int = 0

    @property
    def run_name(self) -> str:
        return layout.RUN_NAME.format(method=self.method, n=self.n, p=self.prefill_layers, seed=self.seed)


def validate_teacher(config: TeacherConfig) -> None:
    resolve_task(config.data.task)
    spec = resolve_backbone(config.backbone)
    modes = spec.teacher_modes
    if config.resolved_mode not in modes:
        raise RevmuxError(f"teacher mode {config.mode!r} does not fit a {spec.family} backbone: use one of {', '.join(modes)}")
    _positive(config, ["epochs", "batch_size", "prompt_length"])
    if config.truncate is not None:
        n, depth = config.truncate
        if n < 1:
            raise RevmuxError(f"truncation N must be at least 1, got {n}")
        if n == 1 and (problem := spec.depth_problem(depth)):
            raise RevmuxError(f"truncation {problem}")
        if n > 1 and not 0 <= depth < spec.num_layers:
            raise RevmuxError(f"truncation matched to N = {n} at P = {depth}: P is outside [0, {spec.num_layers}) "
                              f"for {spec.name}")
    if config.start_from is not None and (config.truncate is None or config.resolved_mode != "full"):
        raise RevmuxError("--start-from is for a truncation (--truncate N P) of a fully fine-tuned teacher (--mode full): "
                          "other teachers' layers are the pretrained ones, so there is nothing of theirs to start from")
    if config.dtype not in DTYPE_CHOICES:
        raise RevmuxError(f"unknown dtype {config.dtype!r}: use one of {', '.join(DTYPE_CHOICES)}")


def validate_adapter(config: AdapterConfig, device: str = "cpu") -> None:
    """`device`: where the run is trained or evaluated (a quantized method checks that its scheme runs there)."""
    resolve_task(config.data.task)
    spec = resolve_backbone(config.backbone)
    check_method(config.method, config.n, spec.hidden_size)
    traits = method_traits(config.method)
    if traits["quantization"]:
        check_scheme(traits["quantization"], device)
    if traits["trains_backbone"]:
        validate_teacher(truncation_teacher(config, TeacherConfig(config.data, config.backbone)))
    elif not 0 <= config.prefill_layers < spec.num_layers:
        raise RevmuxError(
            f"prefill layers P = {config.prefill_layers} is outside [0, {spec.num_layers}) for {spec.name}, "
            f"which has {spec.num_layers} layers to split: choose P from 0 to {spec.num_layers - 1}"
        )
    _positive(config, ["epochs", "batch_size", "eval_regroupings", "eval_batch_size"])
    if config.mapping_loss not in MAPPING_LOSSES:
        raise RevmuxError(f"unknown mapping loss {config.mapping_loss!r}: use one of {', '.join(MAPPING_LOSSES)}")
    if config.lr <= 0:
        raise RevmuxError(f"learning rate must be positive, got {config.lr}")


def truncation_teacher(config: AdapterConfig, teacher: TeacherConfig) -> TeacherConfig:
    """The stage-0 settings of a truncate run: the teacher's recipe, the run's seed, its (N, P)."""
    return dataclasses.replace(teacher, data=config.data, backbone=config.backbone, seed=config.seed,
                               truncate=(config.n, config.prefill_layers))


def _positive(config, fields: list[str]) -> None:
    for name in fields:
        if getattr(config, name) < 1:
            raise RevmuxError(f"{name} must be at least 1, got {getattr(config, name)}")


def defaults(cls) -> dict:
    """The dataclass's defaults by field name: what the command line and the workflow schema default to."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}



@dataclass(frozen=True)
class SpeedSettings:
    """One timing of a multiplexing method against the teacher (`revmux speed`)."""

    backbone: str
    method: str
    n: int
    prefill_layers: int
    batch_size: int = 32
    length: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    warmup_runs: int = 10
    min_iterations: int = 20
    min_duration_s: float = 10.0
    memory_runs: int = 5
    energy_window_s: float = 1.0
    max_cv: float = 0.10
    foreign_cpu_tolerance: float = FOREIGN_CPU_TOLERANCE
    max_drift: float = MAX_DRIFT
    soft_prompt_length: int = 0  # T5: the prompt-tuned teacher's soft prompt, so the evaluated configuration is timed
    seed: int = 0
    match_length: int | None = None  # truncate: the input length its depth is matched at (the data's); None = length
    cuda_graphs: bool = False  # GPU: time each call replayed from one CUDA graph capture

def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def run_dir(results: Path, config: AdapterConfig) -> Path:
    return layout.run_dir(results, config.data.task, config.backbone, config.method, config.n,
                          config.prefill_layers, config.seed)
