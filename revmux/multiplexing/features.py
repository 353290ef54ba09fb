"""Layer-P states and the teacher's answer states of a split, computed once and reused.

The backbone and the teacher are frozen, so these do not change while adapters train: they are
computed once per (task, backbone, P, max length, examples, teacher) and shared by every method,
N, seed and epoch. `LiveFeatures` recomputes them per batch instead, for comparison.

On disk a split is a manifest (`<split>.json`, written last: it marks a finished cache) and shards
(`<split>.shards/shard-NNNNN.safetensors`) of at most `SHARD_BYTES` of layer-P states each, in the
backbone's compute dtype (bfloat16 on GPU LLaMA runs). Shards are written as they are computed and
read row by row at their offsets (plain positioned reads, not a memory map, whose touched pages
would count against the job's memory), so neither building nor reading ever holds more than one
shard: the paper's grid (QNLI on BERT-base, SST-2 on Llama-3-8B) fits a fixed memory request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from revmux.core.atomic import atomic_write_json, follow_umask
from revmux.core.errors import RevmuxError
from revmux.core.progress import progress_bar
from revmux.multiplexing.inputs import tokenize_rows
from revmux.multiplexing.model import MultiplexedModel, answer_states_from

log = logging.getLogger(__name__)

FEATURE_BATCH = 64
SHARD_BYTES = 256 * 2**20  # of layer-P states per shard
CACHE_FORMAT = 2  # 1: one fp32 torch file per split
_TORCH_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64, "I8": torch.int8}


def widest_row(backbone, max_length: int) -> int:
    """The most positions a row of layer-P states can have: `max_length` tokens after the soft prompt that a
    prompt-tuned teacher (T5's stage 0) prepends to every example, if it has one."""
    prompt = getattr(backbone, "soft_prompt", None)
    return max_length + (0 if prompt is None else prompt.shape[0])


@dataclass
class FeatureBatch:
    hidden: torch.Tensor  # (B, T, d) layer-P states
    mask: torch.Tensor  # (B, T)
    positions: torch.Tensor  # (B,) answer positions
    labels: torch.Tensor  # (B,)
    teacher: torch.Tensor  # (B, d) the frozen teacher's answer states


class _Shard:
    """One safetensors file read lazily: its header gives each tensor's offset, rows are read with pread."""

    def __init__(self, path: Path, manifest: Path):
        self.path = path
        try:
            with open(path, "rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(size))
        except (OSError, ValueError) as error:
            raise RevmuxError(f"{path}: unreadable feature shard ({error}); delete {manifest} and its shards, "
                              "then rerun `revmux prefill` (or the train job)") from None
        self.data_start = 8 + size
        self.tensors = {name: spec for name, spec in header.items() if name != "__metadata__"}
        expected_end = max(spec["data_offsets"][1] for spec in self.tensors.values())
        if path.stat().st_size != self.data_start + expected_end:
            raise RevmuxError(f"{path}: truncated feature shard; delete {manifest} and its shards, then rerun "
                              "`revmux prefill` (or the train job)")
        self.manifest = manifest

    def rows(self, name: str, rows: np.ndarray) -> torch.Tensor:
        spec = self.tensors[name]
        dtype, shape = _TORCH_DTYPES[spec["dtype"]], spec["shape"]
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * torch.tensor([], dtype=dtype).element_size()
        out = bytearray(len(rows) * row_bytes)
        with open(self.path, "rb", buffering=0) as handle:
            fd = handle.fileno()
            base = self.data_start + spec["data_offsets"][0]
            for k, row in enumerate(rows):
                out[k * row_bytes:(k + 1) * row_bytes] = os.pread(fd, row_bytes, base + int(row) * row_bytes)
        if not out:
            return torch.empty((0, *shape[1:]), dtype=dtype)
        return torch.frombuffer(out, dtype=dtype).view(len(rows), *shape[1:])


class CachedFeatures:
    """A split's features from its shards; `batch` gathers any rows and hands them to the model's device.
    Small per-example values (mask lengths, answer positions, labels) are kept in memory."""

    def __init__(self, manifest_path: Path, device: str | torch.device = "cpu"):
        self.manifest_path = Path(manifest_path)
        self.manifest = json.loads(self.manifest_path.read_text())
        self.device = device
        directory = shard_dir(self.manifest_path)
        self.shards = []
        for entry in self.manifest["shards"]:
            path = directory / entry["file"]
            if not path.is_file():
                raise RevmuxError(f"{path}: feature shard missing; delete {self.manifest_path} and rerun `revmux prefill` "
                                  "(or the train job)")
            self.shards.append(_Shard(path, self.manifest_path))
        sizes = [entry["examples"] for entry in self.manifest["shards"]]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._labels = torch.cat([s.rows("labels", np.arange(n)) for s, n in zip(self.shards, sizes)]) if sizes else torch.empty(0, dtype=torch.long)
        self._positions = torch.cat([s.rows("positions", np.arange(n)) for s, n in zip(self.shards, sizes)]) if sizes else torch.empty(0, dtype=torch.long)
        self._lengths = torch.cat([s.rows("lengths", np.arange(n)) for s, n in zip(self.shards, sizes)]) if sizes else torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def labels(self) -> torch.Tensor:
        return self._labels

    def lengths(self) -> torch.Tensor:
        """Each example's number of real (unpadded) positions."""
        return self._lengths

    def _gather(self, name: str, index: np.ndarray, length: int | None = None) -> torch.Tensor:
        """Rows `index` (in the split's order) of tensor `name`, across shards; 3-D tensors cut or padded to `length`."""
        shard_of = np.searchsorted(self._starts, index, side="right") - 1
        parts, where = [], []
        for shard in np.unique(shard_of):
            chosen = np.nonzero(shard_of == shard)[0]
            rows = self.shards[shard].rows(name, index[chosen] - self._starts[shard])
            if length is not None:
                rows = rows[:, :length] if rows.shape[1] >= length else torch.nn.functional.pad(
                    rows, (0, 0, 0, length - rows.shape[1]))
            parts.append(rows)
            where.append(chosen)
        gathered = torch.cat(parts)
        result = torch.empty_like(gathered)
        result[torch.as_tensor(np.concatenate(where))] = gathered
        return result

    def teacher(self, index) -> torch.Tensor:
        return self._gather("teacher", np.asarray(index, dtype=np.int64)).to(self.device)

    def batch(self, index) -> FeatureBatch:
        index = np.asarray(index, dtype=np.int64)
        lengths = self._lengths[index]
        length = int(lengths.max())  # right-padded: trim to the batch's longest example
        mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return FeatureBatch(*(t.to(self.device) for t in (
            self._gather("hidden", index, length), mask, self._positions[index],
            self._labels[index], self._gather("teacher", index),
        )))


class LiveFeatures:
    """The same batches, recomputed from the text every time (no reuse)."""

    def __init__(self, model: MultiplexedModel, task: str, rows: pd.DataFrame, max_length: int):
        self.model, self.task, self.rows, self.max_length = model, task, rows, max_length

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, index) -> FeatureBatch:
        rows = self.rows.iloc[list(index)]
        tokens = tokenize_rows(self.model.backbone, self.task, rows, self.max_length)
        with torch.no_grad():
            hidden, mask = self.model.prefill(tokens)
            # The teacher continues from the layer-P states: layers [0, P) run once, not twice.
            teacher = answer_states_from(self.model.backbone, hidden, mask, tokens.answer_positions, self.model.prefill_layers)
        labels = torch.tensor(rows["label"].to_numpy(), device=hidden.device)
        return FeatureBatch(hidden, mask, tokens.answer_positions, labels, teacher)


class MemoryFeatures:
    """A split's layer-P states computed now by `model` and held in memory, for a model whose states no shared
    cache holds (a quantized backbone, a truncated one); the same reads as CachedFeatures, without the
    teacher's answer states (its predictions are passed to `evaluate` instead)."""

    def __init__(self, model: MultiplexedModel, task: str, rows: pd.DataFrame, max_length: int, desc: str):
        hidden, masks, positions = [], [], []
        widest = widest_row(model.backbone, max_length)
        with torch.no_grad():
            for start in progress_bar(range(0, len(rows), FEATURE_BATCH), desc=desc, unit="batch", leave=False):
                tokens = tokenize_rows(model.backbone, task, rows.iloc[start:start + FEATURE_BATCH], max_length)
                states, mask = model.prefill(tokens)
                hidden.append(torch.nn.functional.pad(states, (0, 0, 0, widest - states.shape[1])).cpu())
                masks.append(mask.sum(dim=1).long().cpu())
                positions.append(tokens.answer_positions.cpu())
        width = model.backbone.hidden_size
        self._hidden = torch.cat(hidden) if hidden else torch.empty(0, widest, width)
        self._lengths = torch.cat(masks) if masks else torch.empty(0, dtype=torch.long)
        self._positions = torch.cat(positions) if positions else torch.empty(0, dtype=torch.long)
        self._labels = torch.tensor(rows["label"].to_numpy(), dtype=torch.long)
        self.device = model.backbone.device

    def __len__(self) -> int:
        return len(self._labels)

    def labels(self) -> torch.Tensor:
        return self._labels

    def lengths(self) -> torch.Tensor:
        return self._lengths

    def batch(self, index) -> FeatureBatch:
        index = torch.as_tensor(np.asarray(index, dtype=np.int64))
        lengths = self._lengths[index]
        length = int(lengths.max())
        mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).long()
        teacher = torch.full((len(index), 0), float("nan"))
        return FeatureBatch(*(t.to(self.device) for t in (
            self._hidden[index, :length], mask, self._positions[index], self._labels[index], teacher)))


def shard_dir(manifest_path: Path) -> Path:
    return manifest_path.with_suffix(".shards")


def _write_shard(path: Path, parts: list[FeatureBatch]) -> dict:
    from safetensors.torch import save_file

    length = max(part.hidden.shape[1] for part in parts)
    first = parts[0].hidden
    # One buffer filled in place (no concatenated and padded copies): a shard is held once, not three times.
    hidden = first.new_zeros(sum(len(part.hidden) for part in parts), length, first.shape[2])
    offset = 0
    for part in parts:
        hidden[offset:offset + len(part.hidden), :part.hidden.shape[1]] = part.hidden
        offset += len(part.hidden)
    tensors = {
        "hidden": hidden,
        "lengths": torch.cat([p.mask.sum(dim=1) for p in parts]).long(),
        "positions": torch.cat([p.positions for p in parts]).long(),
        "labels": torch.cat([p.labels for p in parts]).long(),
        "teacher": torch.cat([p.teacher for p in parts]).float().contiguous(),
    }
    temporary = path.with_name(f".{path.name}.tmp")
    save_file(tensors, temporary)  # written straight to the file, then renamed: never half a shard under its name
    follow_umask(temporary)
    os.replace(temporary, path)
    return {"file": path.name, "examples": len(hidden), "length": length}


def build_features(model: MultiplexedModel, task: str, rows: pd.DataFrame, max_length: int, manifest_path: Path,
                   key: str, desc: str, shard_bytes: int = SHARD_BYTES) -> None:
    """Compute the split's features batch by batch and write them as shards, the manifest last. At most
    one shard is held in memory; an interruption leaves no manifest, so the cache is rebuilt next time."""
    directory = shard_dir(manifest_path)
    manifest_path.unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)  # shards of an older or interrupted build
    directory.mkdir(parents=True)
    live = LiveFeatures(model, task, rows, max_length)
    started = time.perf_counter()
    shards, pending, pending_bytes, dtype = [], [], 0, None
    widest = widest_row(model.backbone, max_length)
    for start in progress_bar(range(0, len(rows), FEATURE_BATCH), desc=desc, unit="batch", leave=False):
        part = live.batch(range(start, min(start + FEATURE_BATCH, len(rows))))
        part = FeatureBatch(*(t.cpu() for t in (part.hidden, part.mask, part.positions, part.labels, part.teacher)))
        dtype = part.hidden.dtype
        row_bytes = widest * part.hidden.shape[2] * part.hidden.element_size()  # the widest a row can be
        if pending and pending_bytes + len(part.labels) * row_bytes > shard_bytes:
            shards.append(_write_shard(directory / f"shard-{len(shards):05d}.safetensors", pending))
            pending, pending_bytes = [], 0
        pending.append(part)
        pending_bytes += len(part.labels) * row_bytes
    if pending:
        shards.append(_write_shard(directory / f"shard-{len(shards):05d}.safetensors", pending))
    hidden_size = model.backbone.hidden_size
    atomic_write_json(manifest_path, {
        "format": CACHE_FORMAT, "key": key, "examples": len(rows), "hidden_size": hidden_size,
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None, "max_length": max_length,
        "shards": shards,
    })
    log.info("%s: %d rows in %.1f s, stored in %d shards beside %s", desc, len(rows), time.perf_counter() - started,
             len(shards), manifest_path)


def cache_key(*parts: object) -> str:
    return hashlib.sha256(repr((CACHE_FORMAT, *parts)).encode()).hexdigest()[:16]


def load_or_build(manifest_path: Path, key: str, build, device) -> tuple[CachedFeatures, bool]:
    """The features at `manifest_path` if they were made for `key`, else build and store them first.

    The key (format, examples, P, length, teacher, dtype) is stored in the manifest, so a stale cache,
    e.g. after the teacher was retrained, is rebuilt rather than silently reused. True if built.
    """
    manifest_path = Path(manifest_path)
    if manifest_path.is_file():
        try:
            stored = json.loads(manifest_path.read_text()).get("key")
        except ValueError:
            stored = None
        if stored == key:
            return CachedFeatures(manifest_path, device), False
        log.warning("%s was computed for other settings; recomputing it", manifest_path)
    build()
    return CachedFeatures(manifest_path, device), True
