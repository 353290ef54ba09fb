"""Tables from the grid's results: pure functions of data frames and arrays, no I/O.

- `runs_table`: one tidy row per (task, backbone, method, N, P, seed) with every metric;
- `profiles_table`: one row per timing profile, with its speed-up's interval over the timed rounds and its
  ceiling (the counted-FLOP ratio of float paths; none for quantized ones);
- `summary_table`: per (task, backbone, method, N, P): accuracy with a hierarchical bootstrap 95% interval
  (seeds, then examples; `revmux.analysis.bootstrap`) and the seed-to-seed spread, the accuracy change
  against the teacher of the same seed on the same examples (paired), agreement with the teacher, and the
  speed, latency, memory and energy at one profile setting, each the median over the option's profiles;
- `paper_layout`: the paper's table per backbone (rows = method and N, columns = tasks plus their average), each
  cell with its measured speed-up, the majority-class rate, a flag on a teacher that does not clear it, and
  published values beside ours where a reference file gives them (`revmux.analysis.references`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from revmux.analysis.bootstrap import (
    RESAMPLES, accuracy_interval, mean_over_seeds, percentile_interval, ratio_draws, seed_sd, speedup_draws, stable_seed,
)

RUN_KEYS = ["task", "backbone", "method", "n", "p", "seed"]
SUMMARY_KEYS = ["task", "backbone", "method", "n", "p"]
PROFILE_KEYS = ["backbone", "method", "n", "p", "device", "dtype", "threads", "batch", "length"]
HARDWARE_KEYS = ["device", "dtype", "threads"]  # profiles that differ here are never pooled into one number
SETTING_KEYS = HARDWARE_KEYS + ["batch", "length"]
NO_PATH_PEAK = "this profile predates per-path peaks (schema 1): rerun `revmux speed`"
# A profile written before the speed profile recorded these keys: shown as '–', with this in the note.
NOT_RECORDED = "not recorded: the profile predates weights and working-set readings (rerun `revmux speed`)"
MEMORY_KEYS = {"weights": "weights_bytes", "working_set": "working_set_bytes"}
QUANTIZED_CEILING = ("quantized to {scheme}: quantization changes the cost of each FLOP, not their number, so the "
                     "FLOP count gives no ceiling")
SPEEDUP_DRAWS = "speedup_draws"  # per profile: the bootstrap draws of its speed-up (kept out of speed.csv)
METHOD_ORDER = ["identity", "adapter", "ora", "hadamard", "revmux"]
# A teacher must beat always answering the majority class by this much at the low end of its 95% interval to be
# a reference worth multiplexing: 2 points is about the half-width of that interval on a few hundred examples
# (RTE's 277, MRPC's 408), so a teacher that clears it is better than the floor beyond its own uncertainty.
TEACHER_MARGIN = 0.02
WEAK_TEACHER_MARK = "[weak teacher]"
MAJORITY_ROW = "majority class"
PUBLISHED_OUTSIDE_MARK = "*"  # beside a difference: the published value lies outside our 95% interval
BOOTSTRAP_RESAMPLES = RESAMPLES
# A run that gives one class to more than this share of the examples has learned (close to) a constant answer.
ONE_CLASS_SHARE = 0.95


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


def paired_delta(method_correct: np.ndarray, teacher_correct: np.ndarray) -> np.ndarray:
    """Per (row, example): +1 where only the method is right, -1 where only the teacher is, else 0."""
    if method_correct.shape != teacher_correct.shape:
        raise ValueError(f"paired comparison needs the same examples: shapes {method_correct.shape} and {teacher_correct.shape}")
    return method_correct - teacher_correct


def selected_epoch(metrics: dict) -> int | None:
    """The epoch whose weights the run evaluated; None where it trains nothing of its own. Files written before
    `selected_epoch` existed carry it only in the `selection` text ("epoch 2, best ...")."""
    if metrics["trainable_parameters"] == 0:
        return None
    accuracy = metrics["accuracy"]
    if "selected_epoch" in accuracy:
        return accuracy["selected_epoch"]
    found = re.search(r"epoch (\d+)", accuracy.get("selection", ""))
    return int(found.group(1)) if found else None


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
        # Training health: 0 = the validation split preferred the weights as initialised (nothing learned).
        "selected_epoch": selected_epoch(metrics),
        "top_class_share": float(predictions["prediction"].value_counts(normalize=True).max()),
        "quantization": metrics.get("quantization"),
        "depth": (metrics.get("truncation") or {}).get("depth"),
        "train_s": timings.get("train_s"), "evaluate_s": timings.get("evaluate_s"),
        "teacher_mode": metrics.get("teacher_mode"), "data_source": metrics["data_source"],
        # Runs from before the option existed used max(cos, 0).
        "mapping_loss": config.get("mapping_loss", "positive-cos"),
        # The loss weight a multiplexer trained with (a backbone's training_by_method can change it per method).
        "infonce_weight": config.get("infonce_weight") if metrics["trainable_parameters"] and not metrics.get("truncation") else None,
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


def _path_memory(memory: dict, key: str) -> tuple[int | None, str | None]:
    """(bytes, None) when measured; (None, why not) when the profile says it could not be, or predates the key."""
    if key not in memory:
        return None, NOT_RECORDED
    if memory[key] is not None:
        return int(memory[key]), None
    return None, memory.get("unavailable", {}).get(key) or "not measured (the profile gives no reason)"


def _cpu_kernels(host: dict) -> str | None:
    """What torch's CPU kernels ran with, e.g. 'AVX512; int8 dot-product instructions: avx512_vnni' (None for
    profiles that predate it). Without such instructions int8 still runs, on plain AVX2/AVX-512 kernels."""
    if "cpu_capability" not in host:
        return None
    return f"{host['cpu_capability']}; int8 dot-product instructions: {', '.join(host['int8_instructions']) or 'none'}"


def is_quantized(method: str) -> bool:
    """`<method>+int8` and the like: the trained model on a quantized backbone."""
    return "+" in str(method)


def profile_ceiling(profile: dict) -> tuple[float | None, str]:
    """The speed-up the profile's path would reach if time followed its counted FLOPs, and how it is counted;
    None for a quantized path, with the reason. A multiplexer's count includes its own mux and demux, so its
    ceiling is below the cost-free (a + b) / (a + b / N) the profile also records (`cost_free_ceiling`)."""
    base, _, scheme = profile["settings"]["method"].partition("+")
    if scheme:
        return None, QUANTIZED_CEILING.format(scheme=scheme)
    flops = profile["flops_per_sample"]
    if base == "truncate" or (profile.get("method_path") or {}).get("depth") is not None:
        return flops["teacher"] / flops["multiplexed"], "counted FLOPs per sample, teacher / truncated model"
    return flops["teacher"] / flops["multiplexed"], "counted FLOPs per sample, teacher / multiplexed path (mux and demux included)"


def _multiplexes(profile: dict) -> bool:
    base, _, scheme = profile["settings"]["method"].partition("+")
    depth = (profile.get("method_path") or {}).get("depth")
    return not scheme and base not in ("identity", "truncate") and depth is None and profile["settings"]["n"] > 1


def likely_cause(reasons: list[str]) -> str:
    """Why a speed-up may beat its ceiling, from the profile's validity reasons."""
    teacher = [r for r in reasons if r.startswith("teacher") or "first workload" in r]
    if teacher:
        return "teacher profile invalid: " + "; ".join(teacher)
    if reasons:
        return "profile invalid: " + "; ".join(reasons)
    return ("none among the profile's validity checks (it passed them): work the FLOP count leaves out "
            "(element-wise operations, memory traffic) may shrink more than the counted FLOPs; rerun the profile")


def ceiling_check(speedup, ceiling, low, reasons: list[str]) -> tuple[str | None, str | None]:
    """'above ceiling' when the measured speed-up beats its ceiling, 'suspect' when even the low end of its 95%
    interval (`low`, over the timed rounds) does, or when its profile is invalid; with its likely cause. The
    interval's bound, not the rounds' sd: a noisier profile must not be harder to flag."""
    if _missing(speedup) or _missing(ceiling) or speedup <= ceiling:
        return None, None
    if reasons:
        return "suspect", (f"{speedup:.2f}x is above its ceiling {ceiling:.2f}x and its profile is invalid; "
                           f"likely cause: {likely_cause(reasons)}")
    if not _missing(low) and low > ceiling:
        return "suspect", (f"{speedup:.2f}x is above its ceiling {ceiling:.2f}x, and so is its interval's low end "
                           f"{low:.2f}x; likely cause: {likely_cause(reasons)}")
    return "above ceiling", (f"{speedup:.2f}x is above its ceiling {ceiling:.2f}x, within its interval "
                             f"(low end {low:.2f}x)" if not _missing(low) else
                             f"{speedup:.2f}x is above its ceiling {ceiling:.2f}x")


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def profile_draws(profile: dict, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Bootstrap draws of the profile's speed-up over its timed rounds (`revmux.analysis.bootstrap`)."""
    settings, latency = profile["settings"], profile["latency"]
    seed = stable_seed(profile["backbone"]["name"], *(settings.get(key) for key in (
        "method", "n", "prefill_layers", "batch_size", "length", "device", "dtype")))
    teacher, path = latency["teacher"].get("values"), latency["multiplexed"].get("values")
    if teacher and path and len(teacher) == len(path):
        return speedup_draws(teacher, path, resamples, seed)
    return ratio_draws(profile["speedup"]["per_round"]["values"], resamples, seed)


def profile_row(profile: dict, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    settings, latency, memory, energy = profile["settings"], profile["latency"], profile["memory"]["paths"], profile["energy"]
    environment = profile["environment"]
    ceiling, ceiling_source = profile_ceiling(profile)
    per_round = profile["speedup"]["per_round"]
    draws = profile_draws(profile, resamples)
    row = {
        "backbone": settings["backbone"], "method": settings["method"], "n": settings["n"], "p": settings["prefill_layers"],
        "batch": settings["batch_size"], "length": settings["length"], "device": settings["device"], "dtype": settings["dtype"],
        "threads": settings.get("threads", environment["host"]["torch_threads"]),
        "soft_prompt_length": settings.get("soft_prompt_length", 0),
        "num_layers": profile["backbone"]["num_layers"],
        "speedup": profile["speedup"]["measured"], **dict(zip(("speedup_ci_low", "speedup_ci_high"), percentile_interval(draws))),
        "speedup_round_sd": per_round.get("stdev", float(np.std(per_round["values"], ddof=1))),
        "speedup_round_cv": per_round["cv"],
        "ceiling": ceiling, "ceiling_source": ceiling_source,
        # the speed-up if multiplexing itself cost nothing (None for paths that do not multiplex)
        "cost_free_ceiling": profile["speedup"]["ceiling"] if _multiplexes(profile) else None,
        "ceiling_per_instance_flops": profile["speedup"].get("ceiling_parts", {}).get("per_instance_flops"),
        "ceiling_per_composite_flops": profile["speedup"].get("ceiling_parts", {}).get("per_composite_flops"),
        "share_of_ceiling": None if ceiling is None else profile["speedup"]["measured"] / ceiling,
        "flop_ratio": profile["flops_per_sample"]["ratio"],
        "valid": profile["validity"]["valid"], "invalid_reasons": "; ".join(profile["validity"]["reasons"]),
        "depth": (profile.get("method_path") or {}).get("depth"),
        "random_init": profile["backbone"]["random_init"],
        "hardware": environment["gpu"]["name"] if environment["gpu"] else environment["host"]["cpu"],
        "cpu_kernels": _cpu_kernels(environment["host"]),
    }
    row["ceiling_flag"], row["ceiling_flag_reason"] = ceiling_check(
        row["speedup"], ceiling, row["speedup_ci_low"], profile["validity"]["reasons"])
    for path in ("teacher", "multiplexed"):
        peak, source = _path_peak(memory[path])
        row.update({
            f"{path}_samples_per_s": latency[path]["samples_per_s"], f"{path}_latency_p50_s": latency[path]["p50"],
            f"{path}_latency_cv": latency[path]["cv"], f"{path}_flops_per_sample": profile["flops_per_sample"][path],
            f"{path}_peak_memory_bytes": peak, f"{path}_peak_memory_source": source,
            f"{path}_energy_per_sample_j": energy[path]["per_sample"],
            f"{path}_net_energy_per_sample_j": energy[path]["net_per_sample"],
        })
        for name, key in MEMORY_KEYS.items():
            row[f"{path}_{name}_bytes"], row[f"{path}_{name}_note"] = _path_memory(memory[path], key)
    unavailable = energy["teacher"]["unavailable"].get("gpu")
    row["energy_unavailable"] = unavailable
    row[SPEEDUP_DRAWS] = draws
    return row


def profiles_table(profiles: list[dict], resamples: int = BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    frame = pd.DataFrame([profile_row(profile, resamples) for profile in profiles])
    return _ordered(frame, PROFILE_KEYS) if len(frame) else frame


def speed_csv(profiles: pd.DataFrame) -> str:
    """speed.csv: every profile row without its bootstrap draws."""
    return profiles.drop(columns=[SPEEDUP_DRAWS], errors="ignore").to_csv(index=False)


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


SPEED_COLUMNS = ["speedup", "speedup_ci_low", "speedup_ci_high", "speedup_round_sd", "ceiling", "cost_free_ceiling", "ceiling_note",
                 "ceiling_flag", "ceiling_flag_reason", "throughput_samples_per_s", "teacher_samples_per_s",
                 "latency_p50_s", "weights_bytes", "working_set_bytes", "memory_note", "energy_per_sample_j",
                 "profile_valid", "invalid_reasons", "profiles"]


def _median(values: pd.Series):
    present = pd.to_numeric(values, errors="coerce").dropna()
    return float(present.median()) if len(present) else None


def option_speed(profiles: pd.DataFrame, backbone: str, method: str, n: int, p: int) -> dict:
    """An option's speed, latency, memory and energy at one setting, each the median over its profiles: a
    method's own (one per setting in a grid), the teacher's over every profile, since the teacher is timed
    side by side with each method in each of them. `draws`: the bootstrap draws of the speed-up (None for the
    teacher, whose speed-up is 1 by definition)."""
    empty = {**dict.fromkeys(SPEED_COLUMNS), "draws": None}
    if profiles.empty:
        return empty
    same = profiles[(profiles.backbone == backbone) & (profiles.p == p)]
    teacher = method == "identity"
    rows = same if teacher else same[(same.method == method) & (same.n == n)]
    if rows.empty:
        return empty
    path = "teacher" if teacher else "multiplexed"
    memory, notes = {}, []
    for name in MEMORY_KEYS:
        memory[f"{name}_bytes"] = _median(rows[f"{path}_{name}_bytes"]) if f"{path}_{name}_bytes" in rows else None
        if memory[f"{name}_bytes"] is None:
            notes += list(rows[f"{path}_{name}_note"].dropna().unique()) if f"{path}_{name}_note" in rows else [NOT_RECORDED]
    reasons = [r for text in rows["invalid_reasons"].dropna() for r in str(text).split("; ") if r]
    if teacher:
        speed = {"speedup": 1.0, "speedup_ci_low": 1.0, "speedup_ci_high": 1.0, "speedup_round_sd": 0.0, "ceiling": 1.0,
                 "cost_free_ceiling": None, "ceiling_note": None, "draws": None}
    else:
        draws = np.median(np.vstack(rows[SPEEDUP_DRAWS].tolist()), axis=0) if SPEEDUP_DRAWS in rows else None
        low, high = percentile_interval(draws) if draws is not None else (None, None)
        ceiling = _median(rows["ceiling"])
        speed = {"speedup": _median(rows["speedup"]), "speedup_ci_low": low, "speedup_ci_high": high,
                 "speedup_round_sd": _median(rows["speedup_round_sd"]), "ceiling": ceiling,
                 "cost_free_ceiling": _median(rows["cost_free_ceiling"]) if "cost_free_ceiling" in rows else None,
                 "ceiling_note": None if ceiling is not None else rows["ceiling_source"].dropna().iloc[0], "draws": draws}
    flag, flag_reason = ceiling_check(speed["speedup"], speed["ceiling"], speed["speedup_ci_low"], reasons)
    return {
        **speed, "ceiling_flag": flag, "ceiling_flag_reason": flag_reason,
        "throughput_samples_per_s": _median(rows[f"{path}_samples_per_s"]),
        "teacher_samples_per_s": _median(rows["teacher_samples_per_s"]),
        "latency_p50_s": _median(rows[f"{path}_latency_p50_s"]),
        **memory, "memory_note": "; ".join(dict.fromkeys(notes)) or None,
        "energy_per_sample_j": _median(rows[f"{path}_energy_per_sample_j"]),
        "profile_valid": bool(rows["valid"].all()), "invalid_reasons": "; ".join(dict.fromkeys(reasons)) or None,
        "profiles": len(rows),
    }


def seed_vectors(runs: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]]) -> dict[tuple, dict[int, tuple]]:
    """Per summary row (SUMMARY_KEYS) and seed: (method correct, teacher correct, agrees), each one value per
    example (its mean over the regroupings), examples in id order: what the hierarchical bootstrap resamples."""
    stacked: dict[tuple, dict[int, list]] = {}
    for row, *matrices in runs:
        key = tuple(row[k] for k in SUMMARY_KEYS)
        stacked.setdefault(key, {}).setdefault(row["seed"], []).append(matrices)
    vectors = {}
    for key, seeds in stacked.items():
        shapes = {m.shape[1] for runs_of_seed in seeds.values() for matrices in runs_of_seed for m in matrices}
        if len(shapes) != 1:
            raise ValueError(f"runs of {key} were evaluated on different numbers of examples: {sorted(shapes)}")
        vectors[key] = {seed: tuple(np.vstack([m[i] for m in parts]).mean(axis=0) for i in range(3))
                        for seed, parts in sorted(seeds.items())}
    return vectors


def summary_table(runs: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]], profiles: pd.DataFrame,
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """`runs`: (run row, method correct, teacher correct, agrees) per run, each (regroupings, examples); `profiles`:
    the profile rows at one setting (`at_setting`). Intervals: hierarchical bootstrap, seeds then examples; the
    change against the teacher pairs each seed's run with that seed's teacher on the same examples."""
    hardware = set(map(tuple, profiles[SETTING_KEYS].drop_duplicates().to_numpy())) if not profiles.empty else set()
    if len(hardware) > 1:
        raise ValueError(f"summary_table needs the profiles of one setting, got {len(hardware)}: choose_profile_setting picks one")
    timed = dict(zip(SETTING_KEYS, next(iter(hardware)))) if hardware else dict.fromkeys(SETTING_KEYS)
    first_run, stacked, untrained, one_class = {}, {}, {}, {}
    for row, method_correct, *_ in runs:
        key = tuple(row[k] for k in SUMMARY_KEYS)
        first_run.setdefault(key, row)
        stacked.setdefault(key, []).append(method_correct)
        if row.get("selected_epoch") == 0:
            untrained.setdefault(key, set()).add(row["seed"])
        if row.get("top_class_share", 0) > ONE_CLASS_SHARE:
            one_class.setdefault(key, set()).add(row["seed"])
    summary = []
    for key, seeds in seed_vectors(runs).items():
        method = [vectors[0] for vectors in seeds.values()]
        delta = [vectors[0] - vectors[1] for vectors in seeds.values()]
        rows = np.vstack(stacked[key])
        per_row = rows.mean(axis=1)  # per (seed, regrouping): the spread the paper's layout reports
        accuracy_low, accuracy_high = accuracy_interval(method, resamples, seed)
        delta_low, delta_high = accuracy_interval(delta, resamples, seed)
        first = first_run[key]
        speed = option_speed(profiles, key[1], key[2], key[3], key[4])
        speed.pop("draws")
        summary.append({
            **dict(zip(SUMMARY_KEYS, key)),
            "seeds": len(seeds), "regroupings": rows.shape[0], "examples": rows.shape[1],
            "accuracy_mean": mean_over_seeds(method),
            "accuracy_sd": float(per_row.std(ddof=1)) if len(per_row) > 1 else 0.0,
            "accuracy_seed_sd": seed_sd(method),
            "accuracy_ci_low": accuracy_low, "accuracy_ci_high": accuracy_high,
            "teacher_accuracy": mean_over_seeds([vectors[1] for vectors in seeds.values()]),
            "delta_vs_teacher": mean_over_seeds(delta), "delta_seed_sd": seed_sd(delta),
            "delta_ci_low": delta_low, "delta_ci_high": delta_high,
            "agreement_with_teacher": mean_over_seeds([vectors[2] for vectors in seeds.values()]),
            "untrained_seeds": sorted(untrained.get(key, ())), "one_class_seeds": sorted(one_class.get(key, ())),
            "quantization": first.get("quantization"), "depth": first.get("depth"),
            **speed,
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


def majority_rate(labels) -> float:
    """The accuracy of always answering the most frequent label of these examples: the floor a teacher must clear."""
    counts = pd.Series(np.asarray(labels)).value_counts(normalize=True)
    return float(counts.iloc[0]) if len(counts) else float("nan")


def check_teachers(summary: pd.DataFrame, majority: dict[str, float]) -> pd.DataFrame:
    """The summary with `majority_rate` (per task: of the evaluated examples), `above_majority` on every row
    (the low end of the option's 95% interval above that rate) and, on the teacher's rows, `weak_teacher`:
    True where the low end of the teacher's interval is not above the majority rate plus TEACHER_MARGIN.
    Against such a teacher a multiplexer that answers the majority class for every instance of a composite
    would look "within a few points of the teacher": the changes against it say nothing."""
    rates = summary["task"].map(majority).astype(float)
    teacher = summary["method"] == "identity"
    weak = summary["accuracy_ci_low"] <= rates + TEACHER_MARGIN
    # Every option, not only the teacher: one whose interval reaches down to the floor is not shown to have
    # learned anything, whatever its speed (a constant answer is the fastest classifier of all).
    above = pd.Series(np.where(rates.notna(), summary["accuracy_ci_low"] > rates, None), index=summary.index, dtype=object)
    return summary.assign(majority_rate=rates, above_majority=above,
                          weak_teacher=pd.Series(np.where(teacher, weak, None), index=summary.index, dtype=object))


def is_above_majority(row) -> bool:
    """False only where the majority rate is known and the low end of the option's 95% interval is not above it."""
    value = row.get("above_majority")
    return value is None or pd.isna(value) or bool(value)


def is_weak_teacher(row) -> bool:
    value = row.get("weak_teacher")
    return value is not None and not pd.isna(value) and bool(value)


def task_order(tasks) -> list[str]:
    """Tasks in the registry's order (the paper's: SST-2, RTE, QNLI, MRPC), any other after them."""
    from revmux.data.tasks import known_tasks

    known = known_tasks()
    return sorted(dict.fromkeys(tasks), key=lambda task: (known.index(task) if task in known else len(known), task))


def _layout_speed(row) -> str:
    """The measured speed-up beside an accuracy cell: ' (1.31x)', with what makes it doubtful."""
    if _missing(row.get("speedup")):
        return ""
    notes = [] if row["method"] == "identity" or not _is_false(row.get("profile_valid")) else ["invalid timing"]
    if row.get("ceiling_flag") == "suspect":
        notes.append("suspect")
    return f" ({row['speedup']:.2f}x{', ' + ', '.join(notes) if notes else ''})"


def _published_cell(matches: pd.DataFrame, backbone: str) -> str:
    """'; published 91.2 (bert-base-uncased), Δ -1.1*' per published value (* outside our 95% interval)."""
    parts = []
    for _, match in matches.iterrows():
        other = f" ({match['published_backbone']})" if match["published_backbone"] != backbone else ""
        mark = PUBLISHED_OUTSIDE_MARK if match["outside_interval"] else ""
        parts.append(f"; published {match['published']:.1f}{other}, Δ {match['difference']:+.1f}{mark}")
    return "".join(parts)


def paper_layout(summary: pd.DataFrame, backbone: str, matches: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's table for one backbone: rows = method and N (and P where several), columns = tasks (in the
    paper's order) and their average. A cell is the accuracy (%) mean ± sd over seeds (no ± with one seed)
    with the measured speed-up beside it; the teacher's row says where it does not clear the majority class
    (`check_teachers`), which a row of its own gives; with `matches` (`references.match_references`), each
    published value, its backbone where it is another, and ours minus it in points."""
    rows = summary[summary.backbone == backbone]
    several_p = rows["p"].nunique() > 1
    def label(row) -> str:
        name = method_label(row)
        return f"{name} P={row['p']}" if several_p else name

    rows = rows.assign(row=rows.apply(label, axis=1))
    tasks = task_order(rows["task"])
    mine = matches[matches.backbone == backbone] if matches is not None and not matches.empty else None
    order = list(dict.fromkeys(rows["row"]))
    table = pd.DataFrame(index=order, columns=tasks + ["Avg."], dtype=object).fillna("–")
    for _, row in rows.iterrows():
        spread = row.get("accuracy_seed_sd")
        cell = f"{row['accuracy_mean'] * 100:.1f}" + ("" if _missing(spread) else f" ± {spread * 100:.1f}")
        cell += _layout_speed(row) + (f" {WEAK_TEACHER_MARK}" if is_weak_teacher(row) else "")
        if mine is not None:
            cell += _published_cell(mine[(mine.task == row["task"]) & (mine.method == row["method"])
                                         & (mine.n == row["n"]) & (mine.p == row["p"])], backbone)
        table.loc[row["row"], row["task"]] = cell
    means = rows.pivot_table(index="row", columns="task", values="accuracy_mean", aggfunc="first").reindex(
        index=order, columns=tasks) * 100
    table["Avg."] = [f"{means.loc[r].mean():.1f}" if means.loc[r].notna().all() else "–" for r in order]
    if "majority_rate" in rows and rows["majority_rate"].notna().any():
        rates = rows.groupby("task")["majority_rate"].first().reindex(tasks) * 100
        table.loc[MAJORITY_ROW] = [f"{rate:.1f}" if pd.notna(rate) else "–" for rate in rates] + [
            f"{rates.mean():.1f}" if rates.notna().all() else "–"]
    table.index.name = "method"
    return table


def _number(value, fmt: str) -> str:
    return "–" if _missing(value) else format(value, fmt)


def _is_false(value) -> bool:
    return value is not None and not pd.isna(value) and not bool(value)


def _timed_on(row) -> str:
    if pd.isna(row.get("timed_device")) or pd.isna(row.get("speedup")):
        return "–"
    return f"{row['timed_device']} {row['timed_dtype']}, {int(row['timed_threads'])} thr, {int(row['timed_batch'])}x{int(row['timed_length'])}"


def interval(low, high, fmt: str, scale: float = 1.0) -> str:
    return f"[{format(low * scale, fmt)}, {format(high * scale, fmt)}]"


def points(value, low, high) -> str:
    """A paired difference in points with its interval: '+1.2 [+0.3, +2.0]'."""
    return f"{value * 100:+.1f} {interval(low, high, '+.1f', 100)}"


def speedup_text(value, low, high) -> str:
    return f"{value:.2f}x {interval(low, high, '.2f')}"


def _seed_spread(value, seeds: int, scale: float = 100) -> str:
    return "n/a (1 seed)" if seeds < 2 or _missing(value) else f"{value * scale:.1f}"


def _speedup_cell(row) -> str:
    if _missing(row.get("speedup")):
        return "–"
    if row["method"] == "identity":  # the reference: 1 by definition, timed inside every profile
        return "1.00x" + (" (INVALID: see profiles)" if _is_false(row["profile_valid"]) else "")
    text = (speedup_text(row["speedup"], row["speedup_ci_low"], row["speedup_ci_high"])
            if not _missing(row.get("speedup_ci_low")) else f"{row['speedup']:.2f}x")
    if _is_false(row["profile_valid"]):
        text += " (INVALID: see profiles)"
    flag = row.get("ceiling_flag")
    if flag == "suspect":
        text += " SUSPECT: above ceiling"
    elif flag == "above ceiling":
        text += " above ceiling"
    return text


def _ceiling_cell(row) -> str:
    if not _missing(row.get("ceiling")):
        return f"{row['ceiling']:.2f}x"
    return "n/a (quantized)" if is_quantized(row["method"]) and not _missing(row.get("speedup")) else "–"


def _megabytes(value, row) -> str:
    """MB (1e6 bytes); '–' where the profile predates the reading or nothing was timed, 'n/a' where it says why not."""
    if not _missing(value):
        return f"{value / 1e6:.0f}"
    note = row.get("memory_note")
    return "n/a" if isinstance(note, str) and NOT_RECORDED not in note else "–"


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary for people: accuracy in %, change in points, speed as x, latency in ms, memory in MB (1e6 bytes)."""
    def percent(value):
        return _number(None if value is None else value * 100, ".1f")

    rows = []
    for _, row in summary.iterrows():
        seeds = int(row["seeds"])
        rows.append({
            "task": row["task"], "backbone": row["backbone"] + (" (random init)" if row["random_init"] else ""),
            "method": method_label(row), "N": row["n"], "P": row["p"], "seeds": seeds,
            "accuracy %": f"{row['accuracy_mean'] * 100:.1f}",
            "95% CI": interval(row["accuracy_ci_low"], row["accuracy_ci_high"], ".1f", 100),
            "sd over seeds": _seed_spread(row.get("accuracy_seed_sd"), seeds),
            "Δ vs teacher (points, paired, 95% CI)": points(row["delta_vs_teacher"], row["delta_ci_low"], row["delta_ci_high"]),
            "Δ sd over seeds": _seed_spread(row.get("delta_seed_sd"), seeds),
            "agreement with teacher %": percent(row["agreement_with_teacher"]),
            "speedup (measured, 95% CI)": _speedup_cell(row),
            "ceiling": _ceiling_cell(row),
            "throughput (samples/s)": _number(row["throughput_samples_per_s"], ".1f"),
            # Absolute speed moves between processes; the speed-up divides by the teacher timed beside the option.
            "teacher in the same profiles (samples/s)": _number(row["teacher_samples_per_s"], ".1f"),
            "latency p50 (ms/batch)": _number(None if _missing(row.get("latency_p50_s")) else row["latency_p50_s"] * 1e3, ".1f"),
            "timed on": _timed_on(row),
            "weights (MB)": _megabytes(row.get("weights_bytes"), row),
            "working set (MB)": _megabytes(row.get("working_set_bytes"), row),
            "energy (J/sample)": _number(row["energy_per_sample_j"], ".4f"),
        })
    return pd.DataFrame(rows)


def ceiling_flags(summary: pd.DataFrame) -> list[str]:
    """One line per option whose measured speed-up is above its ceiling: what, and its likely cause."""
    flagged = summary[summary["ceiling_flag"].notna()] if "ceiling_flag" in summary else summary.iloc[0:0]
    return [f"{row['task']}, {row['backbone']}, {method_label(row)}: {row['ceiling_flag']}: {row['ceiling_flag_reason']}."
            for _, row in flagged.iterrows()]
