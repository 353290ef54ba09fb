"""Serving runs as a job: load the model and trace, check everything before any work, warm up, serve,
and write each run's result JSON and per-request records atomically. Several systems in one call each run
in their own child process, forked from a server that has done the imports, so they share no allocator
state, caches or memory high-water mark, yet pay Python's and transformers' import time (seconds, much of a
short run) only once."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from revmux.backbones import resolve_backbone
from revmux.backbones.load import load_backbone
from revmux.batching.anchors.generate_static import generate_greedy
from revmux.batching.config import ServeSettings, check_serve
from revmux.batching.serve import mark_loaded, peak_memory, records, serve, summarize
from revmux.batching.systems import system_label
from revmux.core.atomic import atomic_write_bytes, atomic_write_json
from revmux.core.errors import RevmuxError, check_device
from revmux.core.progress import bars_shown, progress_bar, switch_off
from revmux.core.provenance import versions
from revmux.measure.system import host_info
from revmux.workloads.traces import check_fits, model_limits, read_trace

RESULT_KIND = "revmux-serve"
SCHEMA_VERSION = 1
# What every serving child imports: this module and the parts of transformers any causal LM's loading pulls in.
_PRELOAD = [__name__, "transformers.modeling_utils", "transformers.activations", "transformers.models.auto.modeling_auto"]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def prompt_digest(prompt_ids) -> str:
    return hashlib.sha256(" ".join(map(str, prompt_ids)).encode()).hexdigest()[:16]


def _load(trace: Path, backbone: str, settings: ServeSettings, resources):
    check_serve(settings)
    check_device(settings.device)
    requests = read_trace(trace)
    spec = resolve_backbone(backbone)
    if spec.family != "decoder":
        raise RevmuxError(f"{backbone} is a {spec.family} model; serving needs a causal LM (e.g. smollm2-135m, stories260k)")
    check_fits(requests, *model_limits(spec, resources), backbone, str(trace))  # from its config: before the weights load
    model = load_backbone(spec, resources, _DTYPES[settings.dtype], settings.device, with_tokenizer=False).model
    return requests, spec, model


def reference_run(trace: Path, backbone: str, settings: ServeSettings, resources, out: Path, progress: bool = True) -> None:
    """Each request's greedy tokens from `generate` at batch 1: what every system must reproduce."""
    requests, _, model = _load(trace, backbone, settings, resources)
    device = next(model.parameters()).device
    rows = []
    for r in progress_bar(requests, desc="reference tokens", unit="request", enabled=progress):
        ids = torch.tensor([r.prompt_ids], device=device)
        tokens = generate_greedy(model, ids, torch.ones_like(ids), r.output_tokens, 0)[0].tolist()
        rows.append({"request": r.request, "prompt_digest": prompt_digest(r.prompt_ids), "tokens": " ".join(map(str, tokens))})
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    atomic_write_bytes(out, buffer.getvalue().encode())


def read_reference(path: Path, requests) -> dict[str, list[int]]:
    if not Path(path).is_file():
        raise RevmuxError(f"reference file {path} not found: make it with `revmux serve --reference-out {path}` on the same trace")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"request", "prompt_digest", "tokens"} <= set(frame.columns):
        raise RevmuxError(f"{path}: not a reference file (needs request, prompt_digest, tokens); remake it with --reference-out")
    known = {row.request: row for row in frame.itertuples(index=False)}
    reference = {}
    for r in requests:
        row = known.get(r.request)
        if row is None or row.prompt_digest != prompt_digest(r.prompt_ids):
            raise RevmuxError(f"{path} was made for another trace (request {r.request!r} missing or with another prompt): "
                              "remake it with --reference-out on this trace")
        reference[r.request] = [int(t) for t in row.tokens.split()]
    return reference


def serve_run(trace: Path, backbone: str, settings: ServeSettings, resources, out: Path, reference_path: Path | None) -> dict:
    requests, spec, model = _load(trace, backbone, settings, resources)
    reference = read_reference(reference_path, requests) if reference_path is not None else None
    device = next(model.parameters()).device
    if settings.warmup_requests:
        warm = [type(r)(f"warmup-{r.request}", 0.0, r.prompt_ids, min(r.output_tokens, 8)) for r in requests[:settings.warmup_requests]]
        serve(settings.system, model, warm, settings.max_batch, settings.timeout_s)
    loaded = mark_loaded(model, device)
    started = time.time()
    rows, counters, arrival = serve(settings.system, model, requests, settings.max_batch, settings.timeout_s, settings.concurrency)
    memory = peak_memory(device, loaded)  # before the records and summary allocate their own
    frame = records(rows, arrival, reference)
    summary = summarize(frame, counters)
    meta = _trace_meta(trace)
    result = {
        "schema_version": SCHEMA_VERSION, "kind": RESULT_KIND,
        "system": settings.system, "label": system_label(settings.system),
        "settings": {**asdict(settings), "threads": torch.get_num_threads()},
        "backbone": {"name": spec.name, "random_init": spec.random_init, "provenance": spec.provenance,
                     "parameters": sum(p.numel() for p in model.parameters())},
        "trace": {"file": str(trace), **meta}, "workload": workload_name(meta, settings.concurrency),
        "seed": (meta.get("settings") or {}).get("seed"),
        "summary": summary, "memory": memory,
        "environment": {"host": host_info(), "versions": versions(), "started_unix": started, "pid": os.getpid()},
    }
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False, compression={"method": "gzip", "mtime": 0})
    atomic_write_bytes(records_path(out), buffer.getvalue())
    atomic_write_json(out, result)  # last: a result file marks a finished run
    return summary


def run_path(pattern: Path | str, system: str) -> Path:
    return Path(str(pattern).replace("{system}", system))


def serve_systems(trace: Path, backbone: str, settings: list[ServeSettings], resources, out_pattern: Path | str,
                  reference_path: Path | None, on_done=None) -> None:
    """Serve the trace with each system in turn, each in a fresh child process; `out_pattern` holds
    `{system}` when there are several. Stops at the first failure; finished runs keep their files."""
    for each in settings:
        check_serve(each)
    if len({each.system for each in settings}) != len(settings):
        raise RevmuxError(f"a system is named twice in {[each.system for each in settings]}: name each once")
    if len(settings) > 1 and "{system}" not in str(out_pattern):
        raise RevmuxError(f"--out {out_pattern}: with several systems, put {{system}} in the path (e.g. runs/{{system}}.json)")
    if len(settings) == 1:  # this process is already a fresh one
        serve_run(trace, backbone, settings[0], resources, run_path(out_pattern, settings[0].system), reference_path)
        if on_done is not None:
            on_done(settings[0].system, run_path(out_pattern, settings[0].system))
        return
    # A fork server imports this module once and forks every run from that clean state. A plain fork of
    # this process would hang in the child's first parallel op once this process has used OpenMP
    # (libgomp), and would break CUDA; spawning would pay the imports again for every system.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    for each in settings:
        out = run_path(out_pattern, each.system)
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_serve_child, args=(trace, backbone, each, resources, out, reference_path,
                                                           torch.get_num_threads(), bars_shown(), send))
        child.start()
        send.close()
        try:
            error = receive.recv()
        except EOFError:  # killed before it could say (out of memory?)
            error = None
        child.join()
        if error is not None or child.exitcode != 0:
            why = error or f"its process ended with exit code {child.exitcode}"
            raise RevmuxError(f"{each.system}: {why} (runs already finished keep their files)")
        if on_done is not None:
            on_done(each.system, out)


def _serve_child(trace, backbone, settings, resources, out, reference_path, threads, bars, send) -> None:
    """Runs in the child; sends None when done, or the error's text, so the parent can name it."""
    torch.set_num_threads(threads)
    if not bars:  # a fork-server child does not inherit its parent's --no-progress
        switch_off()
    try:
        serve_run(trace, backbone, settings, resources, out, reference_path)
    except RevmuxError as error:
        send.send(str(error))
    except BaseException as error:  # the parent reports what went wrong instead of a bare exit code
        send.send(f"{type(error).__name__}: {error}")
        raise
    else:
        send.send(None)
    finally:
        send.close()


def records_path(out: Path) -> Path:
    return Path(out).with_suffix(".csv.gz")


def _trace_meta(trace: Path) -> dict:
    sidecar = Path(trace).with_suffix(".json")
    return json.loads(sidecar.read_text()) if sidecar.is_file() else {}


def workload_name(meta: dict, concurrency: int | None) -> str:
    """offline, load<F> (Poisson at F x measured capacity), rate<R> (Poisson at R requests/s), or
    closed<C> (C clients replaying the trace)."""
    if concurrency:
        return f"closed{concurrency}"
    if meta.get("load") is not None:
        return f"load{meta['load']:g}"
    settings = meta.get("settings") or {}
    if settings.get("arrivals") == "poisson":
        return f"rate{settings['rate']:g}"
    return "offline" if settings.get("arrivals") == "offline" else "trace"
