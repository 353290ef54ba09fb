"""A path's memory in two parts: the weights it reads and its working set above the loaded, resident model."""

from __future__ import annotations

import functools

import pytest
import torch

from revmux.backbones import resolve_backbone
from revmux.measure.memory import Workload, peak_in_fresh_process, weights_in_use
from revmux.multiplexing.config import SpeedSettings
from revmux.multiplexing.speed import build_workloads

MIB = 2**20
MAPPED_MIB = 96


def _memory_mapped_model(path: str) -> Workload:
    """A model whose weights are mapped from their file, as safetensors' are: no page is in memory until read.
    Its call reads every weight and allocates next to nothing."""
    model = torch.nn.Module()
    model.register_buffer("weight", torch.from_file(path, shared=False, size=MAPPED_MIB * MIB // 4, dtype=torch.float32))
    return Workload(lambda: float(model.weight.sum()), (model,))


def test_memory_mapped_weights_are_resident_before_the_baseline(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * (MAPPED_MIB * MIB // 256))
    measured = peak_in_fresh_process(functools.partial(_memory_mapped_model, str(path)), runs=2, threads=1)
    # The call's first read of the weights is not its working set: it is the model loading late.
    assert measured["peak_bytes"] < MAPPED_MIB * MIB // 4, measured
    assert measured["baseline_bytes"] > MAPPED_MIB * MIB
    assert "weights" in measured["source"]


@pytest.fixture(scope="module")
def minilm(resources):
    spec = resolve_backbone("minilm-l6")

    def paths(method: str, n: int):
        settings = SpeedSettings("minilm-l6", method, n, 3, batch_size=2, length=16)
        backbone, _, _, timed, _, described, modules = build_workloads(settings, spec, resources)
        return backbone, timed, modules, described

    return paths


def _nbytes(module: torch.nn.Module) -> int:
    return sum(t.nbytes for t in (*module.parameters(), *module.buffers()))


def test_a_truncated_model_counts_only_the_layers_it_runs(minilm):
    backbone, timed, modules, described = minilm("truncate", 2)
    teacher, _ = weights_in_use(timed["teacher"], modules["teacher"])
    truncated, how = weights_in_use(timed["multiplexed"], modules["multiplexed"])
    depth = described["depth"]
    assert 0 < depth < backbone.num_layers
    skipped = sum(_nbytes(layer) for layer in backbone.layers[depth:])
    assert teacher - truncated == skipped
    # The teacher reads everything it holds except what it never runs (BERT's pooler).
    assert teacher == _nbytes(backbone) + _nbytes(modules["teacher"][1]) - _nbytes(backbone.model.pooler)
    assert "dispatch mode" in how


def test_an_int8_model_counts_its_int8_weights(minilm):
    backbone, timed, modules, _ = minilm("identity+int8", 1)
    teacher, _ = weights_in_use(timed["teacher"], modules["teacher"])
    quantized, how = weights_in_use(timed["multiplexed"], modules["multiplexed"])
    # Every Linear of the layers the teacher runs: float32 weights and bias in the teacher, int8 weights
    # (one byte each) and the float32 bias in the quantized model.
    linears = [m for layer in backbone.layers for m in layer.modules() if isinstance(m, torch.nn.Linear)]
    float_bytes = sum(m.weight.nbytes + m.bias.nbytes for m in linears)
    int8_bytes = sum(m.weight.numel() + m.bias.nbytes for m in linears)
    assert teacher - quantized == float_bytes - int8_bytes
    assert "int8" in how


def test_a_path_whose_weights_cannot_be_counted_has_no_total_and_says_why(monkeypatch):
    import revmux.multiplexing.speed as speed

    def count(fn, modules):
        if fn == "multiplexed call":
            raise RuntimeError("an operation the recording mode cannot run")
        return 123, "counted"

    monkeypatch.setattr(speed, "weights_in_use", count)
    memory = {path: {"unavailable": {}, "torch_max_allocated": 5000, "torch_allocated_before": 1000}
              for path in ("teacher", "multiplexed")}
    weights = speed.path_weights(memory, {p: f"{p} call" for p in memory}, {p: () for p in memory})
    speed.path_peaks(memory, None, None, None, torch.device("cuda"), weights=weights)
    teacher, multiplexed = memory["teacher"], memory["multiplexed"]
    assert (teacher["weights_bytes"], teacher["working_set_bytes"], teacher["peak_bytes"]) == (123, 4000, 4123)
    assert multiplexed["weights_bytes"] is None and multiplexed["working_set_bytes"] == 4000
    assert multiplexed["peak_bytes"] is None
    for key in ("weights_bytes", "peak_bytes"):
        assert "recording mode cannot run" in multiplexed["unavailable"][key]
