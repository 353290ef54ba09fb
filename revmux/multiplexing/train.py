"""Training the multiplexer on the frozen teacher, with a checkpoint after every epoch.

Loss = cross-entropy + infonce_weight * InfoNCE(demuxed answer states, teacher answer states)
+ mapping_weight * mapping loss. Batch order comes from (seed, epoch) and the dropout RNG state is
checkpointed, so a run interrupted between epochs resumes to the same final result.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from revmux.core import layout
from revmux.core.assets import sha256_of
from revmux.core.atomic import atomic_write_bytes, atomic_write_json
from revmux.core.differences import setting_differences
from revmux.multiplexing.config import AdapterConfig, to_dict, validate_adapter
from revmux.core.errors import RevmuxError, check_device
from revmux.core.progress import progress_bar
from revmux.multiplexing.evaluate import evaluate
from revmux.multiplexing.features import CachedFeatures, LiveFeatures, build_features, cache_key, load_or_build
from revmux.multiplexing.inputs import load_run_splits, splits_fingerprint
from revmux.multiplexing.losses import info_nce, mapping_loss
from revmux.multiplexing.model import MultiplexedModel
from revmux.multiplexing.methods import build_multiplexer, method_traits, split_method
from revmux.multiplexing.stage0 import WEIGHTS_FILE, load_teacher

log = logging.getLogger(__name__)

CHECKPOINT_FILE = layout.CHECKPOINT
ADAPTER_FILE = layout.ADAPTER
# The epoch with the best held-out accuracy, kept only so that the paper-style (optimistic) figure can be
# re-evaluated over every regrouping as the released code reports it; never used for the main number.
DEV_SELECTED_ADAPTER_FILE = layout.DEV_SELECTED_ADAPTER
HISTORY_FILE = layout.HISTORY


def build_model(config: AdapterConfig, teacher_directory: Path, device: str = "cpu") -> tuple[MultiplexedModel, dict]:
    check_device(device)
    resources = Path(config.data.resources) if config.data.resources else None
    backbone, head, teacher_info = load_teacher(teacher_directory, resources, device)
    if teacher_info["config"]["data"]["task"] != config.data.task or teacher_info["config"]["backbone"] != config.backbone:
        raise RevmuxError(
            f"the teacher at {teacher_directory} was made for {teacher_info['config']['data']['task']} on "
            f"{teacher_info['config']['backbone']}, not {config.data.task} on {config.backbone}: pass the right --teacher-dir"
        )
    torch.manual_seed(config.seed)  # the adapter's initial weights follow the run's seed
    multiplexer = build_multiplexer(config.method, backbone.hidden_size, config.n).to(device)
    return MultiplexedModel(backbone, head, multiplexer, config.prefill_layers), teacher_info


def refuse_untrainable(method: str) -> None:
    """A quantized backbone runs inference only, and truncation is its own stage 0: say what to run instead."""
    traits = method_traits(method)
    base = split_method(method)[0]
    if traits["quantization"]:
        raise RevmuxError(f"method {method}: a {traits['quantization']} backbone is never trained (dynamically quantized "
                          f"layers have no gradients, and the harness compares post-training quantization): train "
                          f"{base}, then evaluate and time it as {method}")
    if traits["trains_backbone"]:
        raise RevmuxError(f"method {method} trains its own truncated backbone as a stage 0: run `python -m revmux teacher "
                          f"--truncate N P --out <run directory>` (the workflow's truncation rule does)")


def feature_path(cache_dir: Path, prefill_layers: int, max_length: int, split: str) -> Path:
    """The manifest of the shared layer-P states of one split (its shards beside it), per (P, length, split)."""
    return Path(cache_dir) / layout.PREFILL_MANIFEST.format(p=prefill_layers, length=max_length, split=split)


def run_features(config: AdapterConfig, model: MultiplexedModel, teacher_directory: Path, cache_dir: Path,
                 splits_to_load: tuple[str, ...] = ("train", "validation", "eval")):
    """Features of the run's splits, from the shared cache (or live without reuse)."""
    splits, source = load_run_splits(config.data)
    hashes = splits_fingerprint(splits)
    teacher_id = sha256_of(teacher_directory / WEIGHTS_FILE)
    features, timings = {}, {}
    for name in splits_to_load:
        rows = splits[name]
        if not config.reuse_prefill and name == "train":
            features[name] = LiveFeatures(model, config.data.task, rows, config.data.max_length)
            continue
        key = cache_key(hashes[name], config.prefill_layers, config.data.max_length, teacher_id, str(model.backbone.dtype))
        path = feature_path(cache_dir, config.prefill_layers, config.data.max_length, name)
        start = time.perf_counter()
        features[name], computed = load_or_build(
            path, key,
            lambda: build_features(model, config.data.task, rows, config.data.max_length, path, key,
                                   f"layer-P states ({name})"),
            model.backbone.device,
        )
        timings[f"features_{name}_{'computed' if computed else 'loaded'}_s"] = time.perf_counter() - start
    return splits, features, source, hashes, timings


def _optimizer(model: MultiplexedModel, config: AdapterConfig) -> torch.optim.Optimizer | None:
    parameters = [p for p in model.multiplexer.parameters() if p.requires_grad]
    if not parameters:
        return None
    decay = [p for p in parameters if p.dim() > 1]  # no weight decay on biases (the paper's setting)
    no_decay = [p for p in parameters if p.dim() <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=config.lr,
    )


def train_step_loss(model: MultiplexedModel, batch, config: AdapterConfig) -> dict[str, torch.Tensor]:
    output = model.finish(batch.hidden, batch.mask, batch.positions)
    terms = {
        "ce": torch.nn.functional.cross_entropy(output.logits, batch.labels),
        "infonce": info_nce(output.answers, batch.teacher, config.temperature),
        "mapping": mapping_loss(output.slot_states, output.instance_mask, config.mapping_loss),
    }
    terms["loss"] = terms["ce"] + config.infonce_weight * terms["infonce"] + config.mapping_weight * terms["mapping"]
    return terms


def selection_accuracy(model: MultiplexedModel, features: CachedFeatures, config: AdapterConfig) -> float:
    """Accuracy in one fixed regrouping: cheap enough to run after every epoch."""
    summary, _ = evaluate(model, features, np.arange(len(features)), 1, config.eval_batch_size, config.eval_seed)
    return summary["mean"]


def rng_state() -> dict:
    """Every generator a training step draws from (dropout): the CPU's and, where CUDA is up, each GPU's."""
    return {"cpu": torch.random.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng_state(state) -> None:
    if isinstance(state, torch.Tensor):  # checkpoints written before the GPU generators were saved
        state = {"cpu": state, "cuda": None}
    torch.random.set_rng_state(state["cpu"])
    if state["cuda"] is not None:
        if not torch.cuda.is_available():
            raise RevmuxError("this checkpoint was written on a GPU and holds its random state: resume it on a GPU "
                              "(or delete checkpoint.pt to start over on this machine)")
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(path: Path, obj) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def train_adapter(config: AdapterConfig, out_dir: Path, teacher_directory: Path, cache_dir: Path,
                  stop_after_epoch: int | None = None, device: str = "cpu") -> dict:
    """Train (or resume), keep the validation-selected adapter; returns the training summary.

    `stop_after_epoch` ends the run early after that epoch's checkpoint, as an interruption would.
    """
    validate_adapter(config, device)
    refuse_untrainable(config.method)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, teacher_info = build_model(config, teacher_directory, device)
    timings = {"load_s": time.perf_counter() - start}
    splits, features, source, hashes, feature_timings = run_features(config, model, teacher_directory, cache_dir)
    timings.update(feature_timings)
    optimizer = _optimizer(model, config)
    generator_state = rng_state()
    state = {"epoch": 0, "best_accuracy": -1.0, "best_epoch": 0, "best_adapter": None, "history": [],
             "dev_best_accuracy": -1.0, "dev_best_epoch": 0, "dev_best_adapter": None}
    checkpoint_path = out_dir / CHECKPOINT_FILE
    # What makes a checkpoint this run's: the same settings, the same teacher weights and the same examples.
    # A checkpoint of any other run (another configuration, or one trained on a teacher that a changed key
    # has since retrained) is not an interruption of this one: it is set aside, never resumed.
    identity = {"config": to_dict(config), "teacher": sha256_of(teacher_directory / WEIGHTS_FILE), "data": hashes}
    saved = _checkpoint_of(checkpoint_path, identity, device)
    if saved is not None:
        model.multiplexer.load_state_dict(saved["adapter"])
        if optimizer is not None:
            optimizer.load_state_dict(saved["optimizer"])
        generator_state = saved["rng"]
        state = saved["state"]
        log.info("resuming %s after epoch %d", out_dir, state["epoch"])
    restore_rng_state(generator_state)

    if state["epoch"] == 0:
        model.multiplexer.eval()
        accuracy = selection_accuracy(model, features["validation"], config)
        held_out = selection_accuracy(model, features["eval"], config)
        state.update(best_accuracy=accuracy, best_adapter=_copy(model.multiplexer.state_dict()),
                     dev_best_accuracy=held_out, dev_best_adapter=_copy(model.multiplexer.state_dict()))
        state["history"].append({"epoch": 0, "validation_accuracy": accuracy, "eval_accuracy": held_out})
    epochs = config.epochs if optimizer is not None else 0
    train = features["train"]
    for epoch in range(state["epoch"] + 1, epochs + 1):
        epoch_start = time.perf_counter()
        model.multiplexer.train()
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train))
        sums: dict[str, float] = {}
        batches = range(0, len(order), config.batch_size)
        for offset in progress_bar(batches, desc=f"{config.run_name} epoch {epoch}/{epochs}", unit="batch", leave=False):
            terms = train_step_loss(model, train.batch(order[offset:offset + config.batch_size]), config)
            optimizer.zero_grad()
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.item()
        model.multiplexer.eval()
        record = {"epoch": epoch, "seconds": time.perf_counter() - epoch_start}
        record.update({f"train_{name}": value / len(batches) for name, value in sums.items()})
        record["validation_accuracy"] = selection_accuracy(model, features["validation"], config)
        record["eval_accuracy"] = selection_accuracy(model, features["eval"], config)
        state["history"].append(record)
        state["epoch"] = epoch
        if record["validation_accuracy"] > state["best_accuracy"]:
            state.update(best_accuracy=record["validation_accuracy"], best_epoch=epoch,
                         best_adapter=_copy(model.multiplexer.state_dict()))
        if record["eval_accuracy"] > state["dev_best_accuracy"]:
            state.update(dev_best_accuracy=record["eval_accuracy"], dev_best_epoch=epoch,
                         dev_best_adapter=_copy(model.multiplexer.state_dict()))
        log.info("%s epoch %d: loss %.4f, validation accuracy %.4f", config.run_name, epoch,
                 record["train_loss"], record["validation_accuracy"])
        _save(checkpoint_path, {
            **identity, "adapter": model.multiplexer.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng_state(), "state": state,
        })
        if stop_after_epoch is not None and epoch >= stop_after_epoch and epoch < epochs:
            return {"interrupted_after_epoch": epoch}
    summary = {
        "config": to_dict(config), "teacher": {"dir": str(teacher_directory), "mode": teacher_info["mode"],
                                                 "validation_accuracy": teacher_info["validation_accuracy"]},
        "data_source": source, "data_hashes": hashes, "selected_epoch": state["best_epoch"],
        "dev_selected_epoch": state["dev_best_epoch"],
        "validation_accuracy": state["best_accuracy"], "history": state["history"],
        "timings": {**timings, "train_s": sum(r.get("seconds", 0.0) for r in state["history"])},
        "trainable_parameters": sum(p.numel() for p in model.multiplexer.parameters() if p.requires_grad),
    }
    _save(out_dir / ADAPTER_FILE, state["best_adapter"])
    _save(out_dir / DEV_SELECTED_ADAPTER_FILE, state["dev_best_adapter"])
    atomic_write_json(out_dir / HISTORY_FILE, summary)  # written last: marks a finished training run
    # A finished run needs no checkpoint: left behind, a later run in this folder (after a changed key)
    # could take it for an interruption of its own.
    checkpoint_path.unlink(missing_ok=True)
    return summary


def _checkpoint_of(path: Path, identity: dict, device: str) -> dict | None:
    """The checkpoint at `path` if it was written by the run `identity` describes; None (logged) otherwise."""
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=False, map_location=device)
    differing = setting_differences({part: saved[part] for part in identity if part in saved}, identity)
    if differing:
        log.warning("%s was written by another run (%s): starting over; it is overwritten after the first epoch",
                    path, "; ".join(line.replace("trained", "checkpoint", 1).replace("given", "this run", 1)
                                    for line in differing))
        return None
    return saved


def _copy(state_dict: dict) -> dict:
    return {k: v.detach().clone() for k, v in state_dict.items()}


def load_training_summary(out_dir: Path) -> dict:
    path = out_dir / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(path)
    return json.loads(path.read_text())
