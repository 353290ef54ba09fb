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
PROFILE_KEYS = ["backbone", "method", "n", "p", "batch", "length"]
METHOD_ORDER = ["teacher", "adapter", "ora", "hadamard", "revmux"]
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
        "train_s": timings.get("train_s"), "evaluate_s": timings.get("evaluate_s"),
        "teacher_mode": metrics.get("teacher_mode"), "data_source": metrics["data_source"],
        "random_init": metrics["random_init"], "backbone_provenance": metrics["backbone_provenance"],
    }


def runs_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return _ordered(frame, RUN_KEYS) if len(frame) else frame


def _peak_memory(memory: dict) -> tuple[int, str]:
    """The most telling peak: torch's allocator on a GPU, else the host RSS."""
    if memory["torch_max_allocated"] is not None:
        return memory["torch_max_allocated"], "torch_max_allocated"
    return memory["host_rss_peak"], "host_rss_peak"


def profile_row(profile: dict) -> dict:
    settings, latency, memory, energy = profile["settings"], profile["latency"], profile["memory"]["paths"], profile["energy"]
    environment = profile["environment"]
    row = {
        "backbone": settings["backbone"], "method": settings["method"], "n": settings["n"], "p": settings["prefill_layers"],
        "batch": settings["batch_size"], "length": settings["length"], "device": settings["device"], "dtype": settings["dtype"],
        "num_layers": profile["backbone"]["num_layers"],
        "speedup": profile["speedup"]["measured"], "ceiling": profile["speedup"]["ceiling"],
        "share_of_ceiling": profile["speedup"]["fraction_of_ceiling"], "speedup_round_cv": profile["speedup"]["per_round"]["cv"],
        "flop_ratio": profile["flops_per_sample"]["ratio"],
        "valid": profile["validity"]["valid"], "invalid_reasons": "; ".join(profile["validity"]["reasons"]),
        "random_init": profile["backbone"]["random_init"],
        "hardware": environment["gpu"]["name"] if environment["gpu"] else environment["host"]["cpu"],
    }
    row["memory_source"] = _peak_memory(memory["teacher"])[1]
    for path in ("teacher", "multiplexed"):
        row.update({
            f"{path}_samples_per_s": latency[path]["samples_per_s"], f"{path}_latency_p50_s": latency[path]["p50"],
            f"{path}_latency_cv": latency[path]["cv"], f"{path}_flops_per_sample": profile["flops_per_sample"][path],
            f"{path}_peak_memory_bytes": _peak_memory(memory[path])[0],
            f"{path}_energy_per_sample_j": energy[path]["per_sample"],
            f"{path}_net_energy_per_sample_j": energy[path]["net_per_sample"],
        })
    unavailable = energy["teacher"]["unavailable"].get("gpu")
    row["energy_unavailable"] = unavailable
    return row


def profiles_table(profiles: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([profile_row(profile) for profile in profiles])
    return _ordered(frame, PROFILE_KEYS) if len(frame) else frame


def default_profile_setting(profiles: pd.DataFrame) -> tuple[int, int] | None:
    """The (batch, length) the summary reports speed at: the largest batch, then the longest inputs."""
    if profiles.empty:
        return None
    batch, length = max(zip(profiles["batch"], profiles["length"]))
    return int(batch), int(length)


def _speed_columns(profiles: pd.DataFrame, backbone: str, method: str, n: int, p: int) -> dict:
    empty = {"speedup": None, "ceiling": None, "throughput_samples_per_s": None, "teacher_samples_per_s": None,
             "peak_memory_bytes": None, "energy_per_sample_j": None, "profile_valid": None}
    if profiles.empty:
        return empty
    same = profiles[(profiles.backbone == backbone) & (profiles.p == p)]
    if same.empty:
        return empty
    if method == "teacher":
        # The teacher is timed inside every profile of this backbone; average those measurements.
        return {
            "speedup": 1.0, "ceiling": 1.0,
            "throughput_samples_per_s": same["teacher_samples_per_s"].mean(),
            "teacher_samples_per_s": same["teacher_samples_per_s"].mean(),
            "peak_memory_bytes": same["teacher_peak_memory_bytes"].max(),
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
    one (batch, length). Seeds of a group are stacked as extra rows over the same examples."""
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
            **_speed_columns(profiles, key[1], key[2], key[3], key[4]),
            "random_init": first["random_init"], "backbone_provenance": first["backbone_provenance"],
        })
    return _ordered(pd.DataFrame(summary), SUMMARY_KEYS)


def _ordered(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rank = {method: index for index, method in enumerate(METHOD_ORDER)}
    frame = frame.assign(_method_rank=frame["method"].map(lambda m: rank.get(m, len(rank))))
    sort = [key if key != "method" else "_method_rank" for key in keys]
    return frame.sort_values(sort, kind="stable").drop(columns="_method_rank").reset_index(drop=True)


def paper_layout(summary: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """Accuracy (%) mean +- sd with rows = method (and N, P), columns = tasks plus their average."""
    rows = summary[summary.backbone == backbone]
    several_p = rows["p"].nunique() > 1
    def label(row) -> str:
        name = row["method"] if row["method"] == "teacher" else f"{row['method']} N={row['n']}"
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


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary for people: accuracy in %, change in points, speed as x, memory in MB (1e6 bytes)."""
    def percent(value):
        return _number(None if value is None else value * 100, ".1f")

    rows = []
    for _, row in summary.iterrows():
        rows.append({
            "task": row["task"], "backbone": row["backbone"] + (" (random init)" if row["random_init"] else ""),
            "method": row["method"], "N": row["n"], "P": row["p"], "seeds": row["seeds"],
            "accuracy % (mean ± sd)": f"{row['accuracy_mean'] * 100:.1f} ± {row['accuracy_sd'] * 100:.1f}",
            "95% CI": f"[{row['accuracy_ci_low'] * 100:.1f}, {row['accuracy_ci_high'] * 100:.1f}]",
            "Δ vs teacher (points, paired)": f"{row['delta_vs_teacher'] * 100:+.1f} "
                                              f"[{row['delta_ci_low'] * 100:+.1f}, {row['delta_ci_high'] * 100:+.1f}]",
            "agreement with teacher %": percent(row["agreement_with_teacher"]),
            "speedup (measured)": _number(row["speedup"], ".2f") + ("x" if pd.notna(row["speedup"]) else "")
                                  + (" (INVALID: see profiles)" if _is_false(row["profile_valid"]) else ""),
            "ceiling": _number(row["ceiling"], ".2f") + ("x" if pd.notna(row["ceiling"]) else ""),
            "throughput (samples/s)": _number(row["throughput_samples_per_s"], ".1f"),
            "peak memory (MB)": _number(None if pd.isna(row["peak_memory_bytes"]) else row["peak_memory_bytes"] / 1e6, ".0f"),
            "energy (J/sample)": _number(row["energy_per_sample_j"], ".4f"),
        })
    return pd.DataFrame(rows)
