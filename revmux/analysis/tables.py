"""Tables from the grid's results: pure functions of data frames and arrays, no I/O.

- `runs_table`: one tidy row per (task, backbone, method, N, P, seed) with every metric;
- `profiles_table`: one row per timing profile;
- `summary_table`: per (task, backbone, method, N, P): accuracy over seeds and regroupings with a
  bootstrap 95% interval over examples, the accuracy change against the teacher on the same
  examples (paired), agreement with the teacher, and the measured speed, memory and energy;
- `paper_layout`: the paper's table (rows = method and N, columns = tasks plus their average).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RUN_KEYS = ["task", "backbone", "method", "n", "p", "seed"]
SUMMARY_KEYS = ["task", "backbone", "method", "n", "p"]
PROFILE_KEYS = ["backbone", "method", "n", "p", "device", "dtype", "threads", "batch", "length"]
HARDWARE_KEYS = ["device", "dtype", "threads"]  # profiles that differ here are never pooled into one number
SETTING_KEYS = HARDWARE_KEYS + ["batch", "length"]
NO_PATH_PEAK = "this profile predates per-path peaks (schema 1): rerun `revmux speed`"
METHOD_ORDER = ["identity", "adapter", "ora", "hadamard", "revmux"]
BOOTSTRAP_RESAMPLES = 2000


def correctness(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(method correct, teacher correct, method agrees with teacher), each (regroupings, examples) of 0/1,
    examples in ascending id order so that runs on the same evaluation set line up."""
    def grid(values: pd.Series) -> np.ndarray:
        frame = predictions.assign(value=values.astype(float))
        return frame.pivot(index="regrouping", columns="example", values="value").sort_index(axis=1).to_numpy()

    return (
        grid(predictions["prediction"] == predictions["label"]),
        grid(predictions["teacher_prediction"] == predictions["label"]),
        grid(predictions["prediction"] == predictions["teacher_prediction"]),
    )


def bootstrap_mean_ci(matrix: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of a (rows, examples) matrix when examples are resampled with
    replacement (rows, e.g. seeds x regroupings, stay together: each example keeps all its rows)."""
    per_example = np.asarray(matrix, dtype=float).mean(axis=0)
    rng = np.random.default_rng(seed)
    draws = per_example[rng.integers(0, per_example.size, size=(resamples, per_example.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def paired_delta(method_correct: np.ndarray, teacher_correct: np.ndarray) -> np.ndarray:
    """Per (row, example): +1 where only the method is right, -1 where only the teacher is, else 0."""
    if method_correct.shape != teacher_correct.shape:
        raise ValueError(f"paired comparison needs the same examples: shapes {method_correct.shape} and {teacher_correct.shape}")
    return method_correct - teacher_correct


def run_row(metrics: dict, predictions: pd.DataFrame) -> dict:
    config = metrics["config"]
    method_correct, teacher_correct, agrees = correctness(predictions)
    timings = metrics.get("timings", {})
    return {
        "task": config["data"]["task"], "backbone": config["backbone"], "method": config["method"],
        "n": config["n"], "p": config["prefill_layers"], "seed": config["seed"],
        "accuracy_mean": metrics["accuracy"]["mean"], "accuracy_sd": metrics["accuracy"]["sd"],
        "regroupings": len(metrics["accuracy"]["per_regrouping"]), "examples": metrics["accuracy"]["examples"],
        "teacher_accuracy": metrics["teacher_accuracy"],
        "delta_vs_teacher": float(paired_delta(method_correct, teacher_correct).mean()),
        "agreement_with_teacher": float(agrees.mean()),
        "paper_style_dev_selected_accuracy": metrics.get("paper_style_dev_selected", {}).get("accuracy"),
        "trainable_parameters": metrics["trainable_parameters"],
        "quantization": metrics.get("quantization"),
        "depth": (metrics.get("truncation") or {}).get("depth"),
        "train_s": timings.get("train_s"), "evaluate_s": timings.get("evaluate_s"),
        "teacher_mode": metrics.get("teacher_mode"), "data_source": metrics["data_source"],
        # Runs from before the option existed used max(cos, 0).
        "mapping_loss": config.get("mapping_loss", "positive-cos"),
        "random_init": metrics["random_init"], "backbone_provenance": metrics["backbone_provenance"],
    }


def runs_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return _ordered(frame, RUN_KEYS) if len(frame) else frame


def _path_peak(memory: dict) -> tuple[int | None, str]:
    """The path's own peak over its loaded model (comparable between paths), or None and why not."""
    if memory.get("peak_bytes") is not None:
        return memory["peak_bytes"], memory["peak_source"]
    return None, memory.get("unavailable", {}).get("peak_bytes") or NO_PATH_PEAK


def _cpu_kernels(host: dict) -> str | None:
    """What torch's CPU kernels ran with, e.g. 'AVX512; int8: avx512_vnni' (None for profiles that predate it)."""
    if "cpu_capability" not in host:
        return None
    return f"{host['cpu_capability']}; int8: {', '.join(host['int8_instructions']) or 'none'}"


def profile_row(profile: dict) -> dict:
    settings, latency, memory, energy = profile["settings"], profile["latency"], profile["memory"]["paths"], profile["energy"]
    environment = profile["environment"]
    row = {
        "backbone": settings["backbone"], "method": settings["method"], "n": settings["n"], "p": settings["prefill_layers"],
        "batch": settings["batch_size"], "length": settings["length"], "device": settings["device"], "dtype": settings["dtype"],
        "threads": settings.get("threads", environment["host"]["torch_threads"]),
        "soft_prompt_length": settings.get("soft_prompt_length", 0),
        "num_layers": profile["backbone"]["num_layers"],
        "speedup": profile["speedup"]["measured"], "ceiling": profile["speedup"]["ceiling"],
        "ceiling_per_instance_flops": profile["speedup"].get("ceiling_parts", {}).get("per_instance_flops"),
        "ceiling_per_composite_flops": profile["speedup"].get("ceiling_parts", {}).get("per_composite_flops"),
        "share_of_ceiling": profile["speedup"]["fraction_of_ceiling"], "speedup_round_cv": profile["speedup"]["per_round"]["cv"],
        "flop_ratio": profile["flops_per_sample"]["ratio"],
        "valid": profile["validity"]["valid"], "invalid_reasons": "; ".join(profile["validity"]["reasons"]),
        "depth": (profile.get("method_path") or {}).get("depth"),
        "random_init": profile["backbone"]["random_init"],
        "hardware": environment["gpu"]["name"] if environment["gpu"] else environment["host"]["cpu"],
        "cpu_kernels": _cpu_kernels(environment["host"]),
    }
    for path in ("teacher", "multiplexed"):
        peak, source = _path_peak(memory[path])
        row.update({
            f"{path}_samples_per_s": latency[path]["samples_per_s"], f"{path}_latency_p50_s": latency[path]["p50"],
            f"{path}_latency_cv": latency[path]["cv"], f"{path}_flops_per_sample": profile["flops_per_sample"][path],
            f"{path}_peak_memory_bytes": peak, f"{path}_peak_memory_source": source,
            f"{path}_energy_per_sample_j": energy[path]["per_sample"],
            f"{path}_net_energy_per_sample_j": energy[path]["net_per_sample"],
        })
    unavailable = energy["teacher"]["unavailable"].get("gpu")
    row["energy_unavailable"] = unavailable
    return row


def profiles_table(profiles: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([profile_row(profile) for profile in profiles])
    return _ordered(frame, PROFILE_KEYS) if len(frame) else frame


def profile_settings(profiles: pd.DataFrame) -> list[dict]:
    """Every (device, dtype, threads, batch, length) that was profiled."""
    if profiles.empty:
        return []
    return profiles[SETTING_KEYS].drop_duplicates().sort_values(SETTING_KEYS).to_dict("records")


def choose_profile_setting(profiles: pd.DataFrame, **wanted) -> dict | None:
    """The one setting the summary reports speed at. `wanted` fixes any of SETTING_KEYS; among what is left,
    the hardware (device, dtype, threads) must be unique, since numbers measured on different hardware or
    dtypes are not one quantity; then the largest batch and the longest inputs are taken."""
    candidates = [s for s in profile_settings(profiles)
                  if all(value is None or s[key] == value for key, value in wanted.items())]
    if not candidates:
        if profiles.empty:
            return None
        raise ValueError(f"no profiles match {', '.join(f'{k}={v}' for k, v in wanted.items() if v is not None)}: "
                         f"profiled settings are {_describe(profile_settings(profiles))}")
    hardware = {tuple(s[key] for key in HARDWARE_KEYS) for s in candidates}
    if len(hardware) > 1:
        raise ValueError(
            f"profiles from {len(hardware)} different device/dtype/thread settings: {_describe(candidates)}. "
            "Pick one with --speed-device, --speed-dtype and --speed-threads (never pooled into one number)"
        )
    return max(candidates, key=lambda s: (s["batch"], s["length"]))


def _describe(settings: list[dict]) -> str:
    return "; ".join(setting_label(s) for s in settings)


def setting_label(setting: dict) -> str:
    return (f"{setting['device']}, {setting['dtype']}, {setting['threads']} threads, "
            f"batch {setting['batch']} x {setting['length']} tokens")


def at_setting(profiles: pd.DataFrame, setting: dict | None) -> pd.DataFrame:
    if setting is None:
        return profiles
    keep = np.logical_and.reduce([profiles[key] == setting[key] for key in SETTING_KEYS])
    return profiles[keep]


def _speed_columns(profiles: pd.DataFrame, backbone: str, method: str, n: int, p: int) -> dict:
    empty = {"speedup": None, "ceiling": None, "throughput_samples_per_s": None, "teacher_samples_per_s": None,
             "peak_memory_bytes": None, "energy_per_sample_j": None, "profile_valid": None}
    if profiles.empty:
        return empty
    same = profiles[(profiles.backbone == backbone) & (profiles.p == p)]
    if same.empty:
        return empty
    if method == "identity":
        # The teacher is timed inside every profile of this backbone at this one setting; average those.
        return {
            "speedup": 1.0, "ceiling": 1.0,
            "throughput_samples_per_s": same["teacher_samples_per_s"].mean(),
            "teacher_samples_per_s": same["teacher_samples_per_s"].mean(),
            "peak_memory_bytes": same["teacher_peak_memory_bytes"].max() if same["teacher_peak_memory_bytes"].notna().any() else None,
            "energy_per_sample_j": same["teacher_energy_per_sample_j"].mean() if same["teacher_energy_per_sample_j"].notna().any() else None,
            "profile_valid": bool(same["valid"].all()),
        }
    match = same[(same.method == method) & (same.n == n)]
    if match.empty:
        return empty
    row = match.iloc[0]
    return {
        "speedup": row["speedup"], "ceiling": row["ceiling"],
        "throughput_samples_per_s": row["multiplexed_samples_per_s"], "teacher_samples_per_s": row["teacher_samples_per_s"],
        "peak_memory_bytes": row["multiplexed_peak_memory_bytes"], "energy_per_sample_j": row["multiplexed_energy_per_sample_j"],
        "profile_valid": bool(row["valid"]),
    }


def summary_table(runs: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]], profiles: pd.DataFrame,
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """`runs`: (run row, method correct, teacher correct, agrees) per run; `profiles`: the profile rows at
    one setting (`at_setting`). Seeds of a group are stacked as extra rows over the same examples."""
    hardware = set(map(tuple, profiles[SETTING_KEYS].drop_duplicates().to_numpy())) if not profiles.empty else set()
    if len(hardware) > 1:
        raise ValueError(f"summary_table needs the profiles of one setting, got {len(hardware)}: choose_profile_setting picks one")
    timed = dict(zip(SETTING_KEYS, next(iter(hardware)))) if hardware else dict.fromkeys(SETTING_KEYS)
    groups: dict[tuple, list] = {}
    for row, method_correct, teacher_correct, agrees in runs:
        groups.setdefault(tuple(row[key] for key in SUMMARY_KEYS), []).append((row, method_correct, teacher_correct, agrees))
    summary = []
    for key, members in groups.items():
        shapes = {m[1].shape[1] for m in members}
        if len(shapes) != 1:
            raise ValueError(f"runs of {key} were evaluated on different numbers of examples: {sorted(shapes)}")
        method_correct = np.vstack([m[1] for m in members])
        teacher_correct = np.vstack([m[2] for m in members])
        delta = paired_delta(method_correct, teacher_correct)
        accuracy_low, accuracy_high = bootstrap_mean_ci(method_correct, resamples, seed)
        delta_low, delta_high = bootstrap_mean_ci(delta, resamples, seed)
        per_row = method_correct.mean(axis=1)
        first = members[0][0]
        summary.append({
            **dict(zip(SUMMARY_KEYS, key)),
            "seeds": len(members), "regroupings": method_correct.shape[0], "examples": method_correct.shape[1],
            "accuracy_mean": float(method_correct.mean()),
            "accuracy_sd": float(per_row.std(ddof=1)) if len(per_row) > 1 else 0.0,
            "accuracy_ci_low": accuracy_low, "accuracy_ci_high": accuracy_high,
            "teacher_accuracy": float(teacher_correct.mean()),
            "delta_vs_teacher": float(delta.mean()), "delta_ci_low": delta_low, "delta_ci_high": delta_high,
            "agreement_with_teacher": float(np.vstack([m[3] for m in members]).mean()),
            "quantization": first.get("quantization"), "depth": first.get("depth"),
            **_speed_columns(profiles, key[1], key[2], key[3], key[4]),
            **{f"timed_{k}": v for k, v in timed.items()},
            "random_init": first["random_init"], "backbone_provenance": first["backbone_provenance"],
        })
    return _ordered(pd.DataFrame(summary), SUMMARY_KEYS)


def _ordered(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rank = {method: index for index, method in enumerate(METHOD_ORDER)}
    # quantized forms follow their method (identity+int8 after identity), alternatives after the multiplexers
    frame = frame.assign(_method_rank=frame["method"].map(
        lambda m: rank.get(m.split("+")[0], len(rank)) + (0.5 if "+" in m else 0)))
    sort = [key if key != "method" else "_method_rank" for key in keys]
    return frame.sort_values(sort, kind="stable").drop(columns="_method_rank").reset_index(drop=True)


def method_label(row) -> str:
    """A summary row's method in words: the teacher, a multiplexer at N, a truncation's depth, a quantized form."""
    base, _, scheme = str(row["method"]).partition("+")
    depth = row.get("depth")
    if base == "identity":
        label = "teacher"
    elif base == "truncate":
        layers = f"{int(depth)} layers" if depth is not None and pd.notna(depth) else "layers"
        label = f"truncate {layers}" + (f" (FLOPs of revmux N={row['n']})" if row["n"] > 1 else "")
    else:
        label = f"{base} N={row['n']}"
    return label + (f" on {scheme}" if scheme else "")


def pareto_front(speedup: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Which points no other point beats on both axes (at least as fast and as accurate, better on one)."""
    speedup, accuracy = np.asarray(speedup, dtype=float), np.asarray(accuracy, dtype=float)
    front = np.zeros(len(speedup), dtype=bool)
    for i in range(len(speedup)):
        if np.isnan(speedup[i]) or np.isnan(accuracy[i]):
            continue
        dominated = (speedup >= speedup[i]) & (accuracy >= accuracy[i]) & ((speedup > speedup[i]) | (accuracy > accuracy[i]))
        front[i] = not dominated.any()
    return front


def per_example_correct(runs: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]]) -> dict[tuple, np.ndarray]:
    """Per summary row (SUMMARY_KEYS): each example's accuracy over the row's seeds and regroupings, examples in id order."""
    stacked: dict[tuple, list] = {}
    for row, method_correct, _, _ in runs:
        stacked.setdefault(tuple(row[key] for key in SUMMARY_KEYS), []).append(method_correct)
    return {key: np.vstack(parts).mean(axis=0) for key, parts in stacked.items()}


def equal_speedup_table(summary: pd.DataFrame, correct: dict[tuple, np.ndarray], reference: str = "revmux",
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Every timed option beside the `reference` configuration (same task and backbone) whose measured speed-up is
    closest, and the accuracy difference option - reference with a paired 95% bootstrap interval over examples."""
    rows = []
    timed = summary[summary["speedup"].notna()] if "speedup" in summary else summary.iloc[0:0]
    for (task, backbone), here in timed.groupby(["task", "backbone"], sort=False):
        references = here[here.method == reference]
        if references.empty:
            continue
        for _, option in here[here.method != reference].iterrows():
            nearest = references.iloc[int(np.argmin(np.abs(references["speedup"].to_numpy() - option["speedup"])))]
            mine = correct[tuple(option[key] for key in SUMMARY_KEYS)]
            theirs = correct[tuple(nearest[key] for key in SUMMARY_KEYS)]
            difference = paired_delta(mine[None, :], theirs[None, :])
            low, high = bootstrap_mean_ci(difference, resamples, seed)
            rows.append({
                "task": task, "backbone": backbone, "option": method_label(option), "method": option["method"],
                "n": option["n"], "p": option["p"], "option_speedup": option["speedup"],
                "reference": method_label(nearest), "reference_speedup": nearest["speedup"],
                "option_accuracy": option["accuracy_mean"], "reference_accuracy": nearest["accuracy_mean"],
                "difference": float(difference.mean()), "difference_ci_low": low, "difference_ci_high": high,
                "examples": len(mine), "valid_timings": bool(option["profile_valid"]) and bool(nearest["profile_valid"]),
            })
    frame = pd.DataFrame(rows)
    return frame.sort_values(["task", "backbone", "option_speedup"], kind="stable").reset_index(drop=True) if len(frame) else frame


def display_equal_speedup(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{
        "task": row["task"], "backbone": row["backbone"], "option": row["option"],
        "speed-up": f"{row['option_speedup']:.2f}x", "nearest revmux": row["reference"],
        "its speed-up": f"{row['reference_speedup']:.2f}x",
        "accuracy % (option / revmux)": f"{row['option_accuracy'] * 100:.1f} / {row['reference_accuracy'] * 100:.1f}",
        "difference (points, paired, 95% CI)": f"{row['difference'] * 100:+.1f} [{row['difference_ci_low'] * 100:+.1f}, "
                                               f"{row['difference_ci_high'] * 100:+.1f}]",
        "timings": "valid" if row["valid_timings"] else "INVALID (see profiles)",
    } for _, row in table.iterrows()])


def batch_sweep_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """Samples/s of the teacher and of every timed method per batch size (one hardware setting and length each):
    where plain batching stops paying, and what each method adds on top. Empty unless several batch sizes were timed."""
    if profiles.empty or profiles["batch"].nunique() < 2:
        return pd.DataFrame()
    rows = []
    for keys, group in profiles.groupby(["backbone", "device", "dtype", "threads", "length"], sort=False):
        teacher = group.groupby("batch")["teacher_samples_per_s"].median()
        # The teacher is timed inside every profile at its batch: one invalid profile makes its cell suspect too.
        teacher_valid = group.groupby("batch")["valid"].all()
        rows.append({"backbone": keys[0], "setting": f"{keys[1]} {keys[2]}, {int(keys[3])} thr, {keys[4]} tokens",
                     "model": "teacher", **{f"batch {b}": f"{v:.1f}" + ("" if teacher_valid[b] else " (invalid)")
                                            for b, v in teacher.items()}})
        for (method, n, p), timed in group.groupby(["method", "n", "p"], sort=False):
            cells = {}
            for batch in teacher.index:
                at = timed[timed.batch == batch]
                if at.empty:
                    cells[f"batch {batch}"] = "–"
                    continue
                mark = "" if at["valid"].iloc[0] else ", invalid"
                cells[f"batch {batch}"] = f"{at['multiplexed_samples_per_s'].iloc[0]:.1f} ({at['speedup'].iloc[0]:.2f}x{mark})"
            label = method_label({"method": method, "n": n, "depth": timed["depth"].iloc[0]})
            rows.append({"backbone": keys[0], "setting": rows[-1]["setting"], "model": f"{label} P={p}", **cells})
    return pd.DataFrame(rows)


def paper_layout(summary: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """Accuracy (%) mean +- sd with rows = method (and N, P), columns = tasks plus their average."""
    rows = summary[summary.backbone == backbone]
    several_p = rows["p"].nunique() > 1
    def label(row) -> str:
        name = method_label(row)
        return f"{name} P={row['p']}" if several_p else name

    rows = rows.assign(row=rows.apply(label, axis=1))
    cells = rows.pivot(index="row", columns="task", values="accuracy_mean") * 100
    spread = rows.pivot(index="row", columns="task", values="accuracy_sd") * 100
    order = list(dict.fromkeys(rows["row"]))
    table = pd.DataFrame(index=order)
    for task in cells.columns:
        table[task] = [f"{cells.loc[r, task]:.1f} ± {spread.loc[r, task]:.1f}" if pd.notna(cells.loc[r, task]) else "–"
                       for r in order]
    complete = cells.loc[order].notna().all(axis=1)
    table["Avg."] = [f"{cells.loc[r].mean():.1f}" if complete[r] else "–" for r in order]
    table.index.name = "method"
    return table


def _number(value, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def _is_false(value) -> bool:
    return value is not None and not pd.isna(value) and not bool(value)


def _timed_on(row) -> str:
    if pd.isna(row.get("timed_device")) or pd.isna(row.get("speedup")):
        return "–"
    return f"{row['timed_device']} {row['timed_dtype']}, {int(row['timed_threads'])} thr, {int(row['timed_batch'])}x{int(row['timed_length'])}"


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary for people: accuracy in %, change in points, speed as x, memory in MB (1e6 bytes)."""
    def percent(value):
        return _number(None if value is None else value * 100, ".1f")

    rows = []
    for _, row in summary.iterrows():
        rows.append({
            "task": row["task"], "backbone": row["backbone"] + (" (random init)" if row["random_init"] else ""),
            "method": method_label(row), "N": row["n"], "P": row["p"], "seeds": row["seeds"],
            "accuracy % (mean ± sd)": f"{row['accuracy_mean'] * 100:.1f} ± {row['accuracy_sd'] * 100:.1f}",
            "95% CI": f"[{row['accuracy_ci_low'] * 100:.1f}, {row['accuracy_ci_high'] * 100:.1f}]",
            "Δ vs teacher (points, paired)": f"{row['delta_vs_teacher'] * 100:+.1f} "
                                              f"[{row['delta_ci_low'] * 100:+.1f}, {row['delta_ci_high'] * 100:+.1f}]",
            "agreement with teacher %": percent(row["agreement_with_teacher"]),
            "speedup (measured)": _number(row["speedup"], ".2f") + ("x" if pd.notna(row["speedup"]) else "")
                                  + (" (INVALID: see profiles)" if _is_false(row["profile_valid"]) else ""),
            "ceiling": _number(row["ceiling"], ".2f") + ("x" if pd.notna(row["ceiling"]) else ""),
            "throughput (samples/s)": _number(row["throughput_samples_per_s"], ".1f"),
            "timed on": _timed_on(row),
            "peak memory (MB)": _number(None if pd.isna(row["peak_memory_bytes"]) else row["peak_memory_bytes"] / 1e6, ".0f")
                                .replace("–", "n/a"),
            "energy (J/sample)": _number(row["energy_per_sample_j"], ".4f"),
        })
    return pd.DataFrame(rows)
