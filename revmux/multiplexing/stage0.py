"""Stage 0: make the frozen teacher that every method is trained on and compared with.

- encoder `full`: fine-tune the whole backbone with a classifier head (the paper, for BERT);
  `head`: train only the head on the frozen pretrained backbone (cheaper);
- decoder `zero-shot`: score label words with the LM head (the paper, for LLaMA); `head`: train a
  linear head started from the label words' rows;
- encoder-decoder `prompt`: tune a soft prompt, label words as targets (the paper, for T5);
  `zero-shot`: label words without a prompt.
The model with the best validation accuracy is kept. Everything after this stage is frozen.
A truncation (an alternative to multiplexing) runs this recipe on the first layers only; with `start_from`, on
the fully fine-tuned teacher's first layers and head, the point the multiplexers start from too.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from revmux.core import layout
from revmux.core.atomic import atomic_write_bytes, atomic_write_json
from revmux.core.progress import progress_bar
from revmux.backbones.load import load_backbone
from revmux.backbones import resolve_backbone
from revmux.backbones.load import DTYPES, compute_dtype, dtype_name
from revmux.backbones.stages import StagedBackbone, stage_backbone
from revmux.multiplexing.config import TeacherConfig, to_dict, validate_teacher
from revmux.data.prompts import label_token_ids
from revmux.core.errors import RevmuxError, check_device
from revmux.multiplexing.heads import ClassifierHead, LabelWordHead, LinearHead
from revmux.multiplexing.inputs import load_run_splits, splits_fingerprint, tokenize_rows
from revmux.multiplexing.model import teacher_answer_states
from revmux.core.provenance import versions

log = logging.getLogger(__name__)

DEFAULT_LR = {"full": 1e-4, "head": 1e-3, "prompt": 0.3, "zero-shot": 0.0}
WEIGHTS_FILE = layout.TEACHER_WEIGHTS
INFO_FILE = layout.TEACHER_INFO


def _build_head(mode: str, backbone: StagedBackbone, task: str, num_classes: int) -> nn.Module:
    if not backbone.spec.scored_by_label_words:
        return ClassifierHead.for_backbone(backbone, num_classes)
    ids = label_token_ids(backbone.tokenizer, task, backbone.spec.label_word_prefix)
    return LinearHead.for_backbone(backbone, ids) if mode == "head" else LabelWordHead(backbone, ids)


def _init_soft_prompt(backbone: StagedBackbone, length: int, seed: int) -> torch.Tensor:
    """Start from the embeddings of random vocabulary tokens (prompt tuning's usual start)."""
    embeddings = backbone.model.get_input_embeddings().weight
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, min(5000, embeddings.shape[0]), (length,), generator=generator)
    return embeddings[rows.to(embeddings.device)].detach().clone()


def predict(backbone: StagedBackbone, head: nn.Module, task: str, rows, max_length: int, batch_size: int = 64) -> np.ndarray:
    with torch.no_grad():
        return head(answer_states(backbone, task, rows, max_length, batch_size)).argmax(-1).cpu().numpy()


def answer_states(backbone: StagedBackbone, task: str, rows, max_length: int, batch_size: int = 64) -> torch.Tensor:
    """The frozen backbone's answer states of `rows` (len(rows), d), in float32, without gradients."""
    states = []
    with torch.no_grad():
        for start in progress_bar(range(0, len(rows), batch_size), desc="answer states", unit="batch", leave=False):
            tokens = tokenize_rows(backbone, task, rows.iloc[start:start + batch_size], max_length)
            states.append(teacher_answer_states(backbone, tokens).float())
    return torch.cat(states)


def accuracy(predictions: np.ndarray, rows) -> float:
    return float((predictions == rows["label"].to_numpy()).mean())


def _trainable(mode: str, backbone: StagedBackbone, head: nn.Module) -> list[nn.Parameter]:
    if mode == "full":
        backbone.model.requires_grad_(True)
        return list(backbone.model.parameters()) + list(head.parameters())
    if mode == "prompt":
        return [backbone.soft_prompt]
    return list(head.parameters())


def _optimizer(mode: str, parameters, lr: float):
    if mode == "prompt":  # the paper prompt-tunes T5 with Adafactor at lr 0.3
        from transformers.optimization import Adafactor

        return Adafactor(parameters, lr=lr, scale_parameter=False, relative_step=False, warmup_init=False)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)


def train_teacher(config: TeacherConfig, out_dir: Path, device: str = "cpu") -> dict:
    validate_teacher(config)
    check_device(device)
    mode = config.resolved_mode
    timings: dict[str, float] = {}
    start = time.perf_counter()
    dtype = compute_dtype(resolve_backbone(config.backbone), device, config.dtype)
    loaded = load_backbone(config.backbone, Path(config.data.resources) if config.data.resources else None, dtype, device)
    backbone = stage_backbone(loaded)
    started_from = _load_fine_tuned(backbone, Path(config.start_from), config) if config.start_from else None
    truncation = None
    if config.truncate is not None:  # method truncate: its own stage 0 on the first layers only
        from revmux.multiplexing.methods.truncate import truncation_depth

        depth, chosen = truncation_depth(backbone, *config.truncate, config.data.max_length)
        backbone.keep_layers(depth)
        truncation = {"depth": depth, **chosen}
        log.info("truncation: keeping %d of %d layers (%s)", depth, loaded.spec.num_layers, chosen["rule"])
    splits, source = load_run_splits(config.data)
    timings["load_s"] = time.perf_counter() - start
    num_classes = int(splits["train"]["label"].max()) + 1
    torch.manual_seed(config.seed)
    head = _build_head(mode, backbone, config.data.task, num_classes).to(device=device, dtype=torch.float32)
    if started_from is not None:
        head.load_state_dict(started_from["head"])
    if mode == "prompt":
        backbone.set_soft_prompt(_init_soft_prompt(backbone, config.prompt_length, config.seed).requires_grad_(True))
    task, max_length = config.data.task, config.data.max_length

    # With only the head training, the backbone (in eval mode: no dropout) gives the same answer states every
    # epoch: computed once, an epoch costs a linear layer's work, not the backbone's, so a head can train as
    # many epochs as it needs (a frozen 135M decoder under 2 epochs' head training stayed near chance).
    frozen_states = None
    if mode == "head":
        backbone.model.eval()
        frozen_states = {name: answer_states(backbone, task, splits[name], max_length) for name in ("train", "validation")}

    def validation_accuracy() -> float:
        backbone.model.eval()
        rows = splits["validation"]
        states = frozen_states["validation"] if frozen_states else answer_states(backbone, task, rows, max_length)
        with torch.no_grad():
            return accuracy(head(states).argmax(-1).cpu().numpy(), rows)

    history = []
    best = (validation_accuracy(), 0, _snapshot(mode, backbone, head))
    history.append({"epoch": 0, "validation_accuracy": best[0]})
    if mode != "zero-shot":
        lr = config.lr if config.lr is not None else DEFAULT_LR[mode]
        optimizer = _optimizer(mode, _trainable(mode, backbone, head), lr)
        train = splits["train"]
        start = time.perf_counter()
        for epoch in range(1, config.epochs + 1):
            backbone.model.train(mode == "full")
            order = np.random.default_rng([config.seed, epoch]).permutation(len(train))
            losses = []
            batches = range(0, len(order), config.batch_size)
            for offset in progress_bar(batches, desc=f"teacher epoch {epoch}/{config.epochs}", unit="batch", leave=False):
                batch = order[offset:offset + config.batch_size]
                rows = train.iloc[batch]
                if frozen_states is not None:
                    logits = head(frozen_states["train"][torch.as_tensor(batch)])
                else:
                    logits = head(teacher_answer_states(backbone, tokenize_rows(backbone, task, rows, max_length)))
                loss = nn.functional.cross_entropy(logits, torch.tensor(rows["label"].to_numpy(), device=logits.device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            score = validation_accuracy()
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_accuracy": score})
            log.info("teacher epoch %d: loss %.4f, validation accuracy %.4f", epoch, np.mean(losses), score)
            if score > best[0]:
                best = (score, epoch, _snapshot(mode, backbone, head))
        timings["train_s"] = time.perf_counter() - start
    _restore(best[2], backbone, head)
    backbone.model.requires_grad_(False)
    backbone.model.eval()
    eval_accuracy = accuracy(predict(backbone, head, task, splits["eval"], max_length), splits["eval"])
    info = {
        "config": to_dict(config), "mode": mode, "head": head.kind, "num_classes": num_classes,
        "dtype": dtype_name(dtype),
        "backbone_provenance": backbone.spec.provenance, "random_init": backbone.spec.random_init,
        "data_source": source, "data_hashes": splits_fingerprint(splits),
        "selected_epoch": best[1], "validation_accuracy": best[0], "eval_accuracy": eval_accuracy,
        "layers": backbone.num_layers, "truncation": truncation,
        "started_from": started_from["info"] if started_from is not None else None,
        "history": history, "timings": timings, "versions": versions(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"head.{k}": v.contiguous() for k, v in head.state_dict().items()}
    if mode == "full":
        tensors.update({f"backbone.{k}": v.contiguous() for k, v in backbone.model.state_dict().items()})
    if backbone.spec.takes_soft_prompt and getattr(backbone, "soft_prompt", None) is not None:
        tensors["soft_prompt"] = backbone.soft_prompt.detach().contiguous()
    _save_tensors(out_dir / WEIGHTS_FILE, tensors)
    atomic_write_json(out_dir / INFO_FILE, info)  # written last: its presence marks a finished stage
    return info


def _load_fine_tuned(backbone: StagedBackbone, directory: Path, config: TeacherConfig) -> dict:
    """Put a fully fine-tuned teacher's weights into the whole `backbone` (before any truncation cuts it);
    returns its head's state and what the run records of it. A teacher of another backbone or task is refused."""
    info_path = directory / INFO_FILE
    if not info_path.is_file():
        raise RevmuxError(f"--start-from {directory}: no finished teacher there; run `python -m revmux teacher` for "
                          "this task, backbone and seed first")
    info = json.loads(info_path.read_text())
    wanted = {"backbone": config.backbone, "task": config.data.task, "mode": "full"}
    found = {"backbone": info["config"]["backbone"], "task": info["config"]["data"]["task"], "mode": info["mode"]}
    if found != wanted or info.get("truncation"):
        raise RevmuxError(f"--start-from {directory}: a teacher of {found}{' (truncated)' if info.get('truncation') else ''}, "
                          f"not the whole {wanted['backbone']} fully fine-tuned on {wanted['task']}: pass that teacher's directory")
    tensors = load_file(directory / WEIGHTS_FILE)
    backbone.model.load_state_dict({k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")})
    head = {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")}
    return {"head": head, "info": {"directory": str(directory), "seed": info["config"]["seed"],
                                   "eval_accuracy": info["eval_accuracy"], "selected_epoch": info["selected_epoch"]}}


def _snapshot(mode: str, backbone: StagedBackbone, head: nn.Module) -> dict:
    state = {"head": copy.deepcopy(head.state_dict())}
    if mode == "full":
        state["backbone"] = copy.deepcopy(backbone.model.state_dict())
    if mode == "prompt":
        state["soft_prompt"] = backbone.soft_prompt.detach().clone()
    return state


def _restore(state: dict, backbone: StagedBackbone, head: nn.Module) -> None:
    head.load_state_dict(state["head"])
    if "backbone" in state:
        backbone.model.load_state_dict(state["backbone"])
    if "soft_prompt" in state:
        backbone.set_soft_prompt(state["soft_prompt"])


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    # Tied weights share storage; safetensors wants each tensor on its own.
    atomic_write_bytes(path, save({k: v.clone() for k, v in tensors.items()}))


def load_teacher(directory: Path, resources: Path | None = None, device: str = "cpu",
                 quantization: str | None = None) -> tuple[StagedBackbone, nn.Module, dict]:
    """The frozen stage-0 model: (backbone with its fine-tuned weights or soft prompt, head, info); a truncated
    one (method truncate) keeps its layers only; `quantization`: a scheme of revmux.backbones.quantization
    applied to the loaded backbone (inference only)."""
    info_path = Path(directory) / INFO_FILE
    if not info_path.is_file():
        raise RevmuxError(f"no finished teacher at {directory}: run `python -m revmux teacher` for this task and backbone first")
    info = json.loads(info_path.read_text())
    tensors = load_file(Path(directory) / WEIGHTS_FILE)
    # Every later stage computes in the dtype the teacher was made in (teachers from before: float32).
    dtype = DTYPES[info.get("dtype", "float32")]
    backbone = stage_backbone(load_backbone(info["config"]["backbone"], resources, dtype, device))
    if info.get("truncation"):
        backbone.keep_layers(info["truncation"]["depth"])
    backbone_state = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")}
    if backbone_state:
        backbone.model.load_state_dict(backbone_state)
    if "soft_prompt" in tensors:
        backbone.set_soft_prompt(tensors["soft_prompt"].to(device))
    head = _build_head(info["mode"], backbone, info["config"]["data"]["task"], info["num_classes"]).to(device=device, dtype=torch.float32)
    head.load_state_dict({k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})
    backbone.model.requires_grad_(False)
    backbone.model.eval()
    head.requires_grad_(False)
    head.eval()
    if quantization:
        from revmux.backbones.quantization import quantize

        quantize(backbone, quantization)
    return backbone, head, info
