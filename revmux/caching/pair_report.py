"""The caching track's model-pair tables and figures: per pair, setting and policy x selector, each cell a mean
over the seeded traces with its 95% Student-t interval over seeds; costs as ratios to LFU + always-large taken
per seed (both replayed the same trace) and then averaged; and whether selection pays, LEC + a trained
selector against LFU + large and against LEC + large, each paired per seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core.atomic import atomic_write_svg, atomic_write_text
from revmux.core.errors import RevmuxError

PAIR_KEYS = ["pair", "scenario", "alpha", "cache_size", "policy", "selector"]
SETTING_KEYS = PAIR_KEYS[:4]
CONFIDENCE = 0.95
TRAINED = ("answer-classifier", "query-classifier")
REFERENCE_ROUTERS = ("small",)  # the trivial router a trained one must beat, judged beside them
ACCURACY_MARGIN = 0.01  # selection "keeps accuracy" where its served accuracy's interval stays above large's - 1 point
# The rows of the main table, in order: the baselines, each trained selector under both caches, the cascade
# with its real detector and its gold-label bound, and the oracle.
MAIN_ROWS = [("lfu", "large"), ("lec", "large"), ("lec", "small"), ("lfu", "answer-classifier"), ("lec", "answer-classifier"),
             ("lfu", "query-classifier"), ("lec", "query-classifier"), ("lec", "cascade"), ("lec", "cascade-gold"),
             ("oracle", "perfect")]


def read_pair(folder: Path) -> tuple[pd.DataFrame, dict]:
    try:
        replays = pd.read_csv(Path(folder) / "replays.csv")
        selector = json.loads((Path(folder) / "selector.json").read_text())
    except FileNotFoundError as error:
        raise RevmuxError(f"{folder}: not a finished `revmux cache-pair` result ({error.filename} is missing); "
                          f"`revmux cache-pair --out {folder}` writes it (in the workflow: the caching_pair job of "
                          "that pair)") from None
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise RevmuxError(f"{folder}: not a finished `revmux cache-pair` result ({error}); rerun its job") from None
    if "detector" not in selector:
        raise RevmuxError(f"{folder}: a `revmux cache-pair` result from before per-query costs and the cascade's "
                          "detector; rerun its job")
    return replays.assign(pair=Path(folder).name), selector


def t_interval(values) -> tuple[float, float, float]:
    """Mean and its 95% Student-t interval over seeds (NaN bounds with a single seed)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    if np.ptp(values) == 0:  # every seed the same (a baseline over itself): no spread to widen by
        return mean, mean, mean
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def per_seed(replays: pd.DataFrame) -> pd.DataFrame:
    """One row per pair, setting, policy x selector and seed: total cost in seconds and in FLOPs, each also
    over LFU + large on the same trace; hit rate and served accuracy; the speed-up over the large model
    alone with no cache (seconds)."""
    by_unit = replays.pivot_table(index=PAIR_KEYS + ["seed"], columns="unit", values="total_cost").reset_index()
    seconds = replays[replays["unit"] == "seconds"].set_index(PAIR_KEYS + ["seed"])
    table = by_unit.join(seconds[["hit_rate", "served_accuracy", "all_large_cost", "requests"]], on=PAIR_KEYS + ["seed"])
    base = table[(table["policy"] == "lfu") & (table["selector"] == "large")].set_index(SETTING_KEYS + ["seed"])
    index = pd.MultiIndex.from_frame(table[SETTING_KEYS + ["seed"]])
    for unit in ("seconds", "flops"):
        table[f"{unit}_over_lfu_large"] = table[unit] / base[unit].reindex(index).to_numpy()
    table["speedup_over_all_large"] = table["all_large_cost"] / table["seconds"]
    table["ms_per_request"] = 1000 * table["seconds"] / table["requests"]
    return table


MEASURES = ("seconds_over_lfu_large", "flops_over_lfu_large", "served_accuracy", "hit_rate", "ms_per_request",
            "speedup_over_all_large")


def pair_summary(replays: pd.DataFrame) -> pd.DataFrame:
    """Per pair, setting and policy x selector: each measure's mean over the seeded traces and its 95% interval
    (columns <measure>, <measure>_low, <measure>_high); cost ratios are per-seed ratios to LFU + large."""
    rows = []
    for key, group in per_seed(replays).groupby(PAIR_KEYS, sort=False):
        row = {**dict(zip(PAIR_KEYS, key)), "seeds": group["seed"].nunique()}
        for measure in MEASURES:
            row[measure], row[f"{measure}_low"], row[f"{measure}_high"] = t_interval(group[measure])
        rows.append(row)
    return pd.DataFrame(rows)


COST_WORDS = ("pays", "costs more", "no difference within the interval")  # ratio below / above 1 / neither
ACCURACY_WORDS = ("loses accuracy", "gains accuracy", "no accuracy difference within the interval")  # vs 0


def _side(low: float, high: float, reference: float, words: tuple[str, str, str]) -> str:
    """Which side of `reference` the whole interval lies on, in words (below, above, neither)."""
    return words[0] if high < reference else words[1] if low > reference else words[2]


def selection_verdicts(replays: pd.DataFrame, cache_size: int) -> pd.DataFrame:
    """Whether selection pays at the main cache size: LEC + each trained selector over LFU + large and over
    LEC + large, in seconds and in FLOPs, as the mean of per-seed ratios with its 95% interval; and the served
    accuracy it gives up against LFU + large (per seed, mean and interval)."""
    seeds = per_seed(replays)
    seeds = seeds[seeds["cache_size"] == cache_size].set_index(PAIR_KEYS + ["seed"])
    rows = []
    for (pair, scenario, alpha), _ in seeds.groupby(level=["pair", "scenario", "alpha"], sort=False):
        def cell(policy, selector):
            return seeds.xs((pair, scenario, alpha, cache_size, policy, selector), level=PAIR_KEYS)
        for selector in TRAINED + REFERENCE_ROUTERS:
            try:
                ours, lfu_large, lec_large = cell("lec", selector), cell("lfu", "large"), cell("lec", "large")
            except KeyError:
                continue
            row = {"pair": pair, "scenario": scenario, "alpha": alpha, "setup": f"LEC+{selector}"}
            for unit in ("seconds", "flops"):
                for name, reference in (("lfu_large", lfu_large), ("lec_large", lec_large)):
                    mean, low, high = t_interval((ours[unit] / reference[unit]).dropna())
                    row.update({f"{unit}_over_{name}": mean, f"{unit}_over_{name}_low": low,
                                f"{unit}_over_{name}_high": high, f"{unit}_vs_{name}": _side(low, high, 1, COST_WORDS)})
            mean, low, high = t_interval((ours["served_accuracy"] - lfu_large["served_accuracy"]).dropna())
            row.update(accuracy_minus_lfu_large=mean, accuracy_minus_lfu_large_low=low,
                       accuracy_minus_lfu_large_high=high, accuracy_vs_lfu_large=_side(low, high, 0, ACCURACY_WORDS))
            rows.append(row)
    return pd.DataFrame(rows)


def _ratio(row, name: str, unit: str = "seconds") -> str:
    key = f"{unit}_over_{name}"
    return f"{row[key]:.2f}x [{row[key + '_low']:.2f}, {row[key + '_high']:.2f}]"


def selection_sentences(verdicts: pd.DataFrame, selector: dict, pair: str, cache_size: int,
                        scenario: str = "online") -> list[str]:
    """The verdicts in words, one bullet per router and one conclusion per pair: whether LEC + the router costs
    less than LEC + large (the cache alone) per seeded trace, in seconds and in FLOPs; and its served accuracy
    against the large model's, judged query by query over the whole held-out split (selector.json's
    served_vs_large), where a trace's few repeated queries give intervals too wide to read."""
    part = verdicts[(verdicts["pair"] == pair) & (verdicts["scenario"] == scenario)].sort_values("alpha")
    if part.empty:
        return []
    regime = (f"{pair} (the large model {selector['cost_ratio_seconds']:.1f}x the small one's cost per query in "
              f"seconds, {selector['cost_ratio_flops']:.1f}x in FLOPs; held-out accuracy small "
              f"{selector['small_accuracy']:.3f}, large {selector['large_accuracy']:.3f}), {scenario}, cache {cache_size}")
    if selector.get("small_answers_one_class"):
        regime += " (the small model gives one answer to every query: nothing to route on)"
    served = selector.get("served_vs_large", {})
    lines, wins = [], []
    for setup, rows in part.groupby("setup", sort=False):
        router = setup.split("+", 1)[1]
        costs = "; ".join(f"alpha {row.alpha:g}: {_ratio(row._asdict(), 'lec_large')} in seconds ({row.seconds_vs_lec_large}), "
                          f"{_ratio(row._asdict(), 'lec_large', 'flops')} in FLOPs ({row.flops_vs_lec_large})"
                          for row in rows.itertuples())
        line = f"- {regime}: {setup} against LEC + large: {costs}."
        keeps = False
        if router in served:
            quality = served[router]
            low, high = quality["minus_large_low"], quality["minus_large_high"]
            keeps = low > -ACCURACY_MARGIN
            word = ("within 1 point of the large model's or better" if keeps else
                    "more than 1 point below the large model's" if high < -ACCURACY_MARGIN else
                    "possibly more than 1 point below the large model's")
            line += (f" Served accuracy without a cache, query by query over the held-out split: "
                     f"{100 * quality['minus_large']:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}] against the "
                     f"large model, {word}.")
        lines.append(line)
        if router in TRAINED:
            wins += [f"{setup} at alpha {row.alpha:g}" for row in rows.itertuples()
                     if row.seconds_vs_lec_large == COST_WORDS[0] and keeps]
    lines.append(f"- {regime}: a trained selector pays beyond what LEC alone buys (cheaper in seconds than LEC + large "
                 "over the whole interval) while keeping the large model's accuracy (its interval above 1 point "
                 "below it) at " + (", ".join(wins) if wins else "no alpha, with either trained selector") + ".")
    return lines


def _cell(row, measure: str) -> str:
    low, high = row[f"{measure}_low"], row[f"{measure}_high"]
    return f"{row[measure]:.3f}" + ("" if np.isnan(low) else f" [{low:.3f}, {high:.3f}]")


def main_table(summary: pd.DataFrame, pair: str, cache_size: int) -> pd.DataFrame:
    """The table a reader compares: online and offline, every alpha, the main cache size, MAIN_ROWS."""
    part = summary[(summary["pair"] == pair) & (summary["cache_size"] == cache_size)]
    order = {setup: number for number, setup in enumerate(MAIN_ROWS)}
    ranks = [order.get((p, s), order.get((p, None))) for p, s in zip(part["policy"], part["selector"])]
    part = part.assign(rank=ranks, scenario_rank=part["scenario"].map({"online": 0, "offline": 1})).dropna(subset=["rank"])
    part = part.sort_values(["scenario_rank", "alpha", "rank"])
    return pd.DataFrame({
        "scenario": part["scenario"], "alpha": part["alpha"],
        "setup": [f"{p.upper()}+{s}" for p, s in zip(part["policy"], part["selector"])],
        "seconds / LFU+large [95% CI]": [_cell(row, "seconds_over_lfu_large") for _, row in part.iterrows()],
        "FLOPs / LFU+large [95% CI]": [_cell(row, "flops_over_lfu_large") for _, row in part.iterrows()],
        "served accuracy [95% CI]": [_cell(row, "served_accuracy") for _, row in part.iterrows()],
        "hit rate": part["hit_rate"].round(3),
    })


def _verdict_table(verdicts: pd.DataFrame, pair: str) -> pd.DataFrame:
    part = verdicts[verdicts["pair"] == pair]
    columns = {"scenario": part["scenario"], "alpha": part["alpha"], "setup": part["setup"]}
    for unit in ("seconds", "flops"):
        for name, label in (("lfu_large", "LFU+large"), ("lec_large", "LEC+large")):
            columns[f"{unit} / {label}"] = [f"{_cell(row, f'{unit}_over_{name}')}: {row[f'{unit}_vs_{name}']}"
                                            for _, row in part.iterrows()]
    columns["served accuracy - LFU+large's"] = [f"{_cell(row, 'accuracy_minus_lfu_large')}: {row['accuracy_vs_lfu_large']}"
                                                for _, row in part.iterrows()]
    return pd.DataFrame(columns)


def _header(pair: str, selector: dict) -> list[str]:
    spread = selector["per_query_cost_spread"]
    detector = selector["detector"]

    def quantiles(column, scale=1.0, unit=""):
        s = spread[column]
        return (f"min {s['min'] * scale:.3g}{unit}, p10 {s['p10'] * scale:.3g}{unit}, median {s['median'] * scale:.3g}{unit}, "
                f"p90 {s['p90'] * scale:.3g}{unit}, max {s['max'] * scale:.3g}{unit}")

    lines = [f"## {pair}: small = {selector['small']}, large = {selector['large']}", "",
             f"- accuracy on the held-out split: small {selector['small_accuracy']:.3f}, large "
             f"{selector['large_accuracy']:.3f} (validation: small {selector['validation_small_accuracy']:.3f}, large "
             f"{selector['validation_large_accuracy']:.3f})",
             f"- cost, large / small (mean per-query costs over the held-out split): {selector['cost_ratio_seconds']:.2f}x "
             f"in seconds, {selector['cost_ratio_flops']:.2f}x in FLOPs"
             + ("" if selector["timing_profiles_valid"] else
                " (seconds from timing profiles marked INVALID: " + "; ".join(selector["invalid_timing_profiles"]) + ")"),
             f"- per-query costs (each query its own: tokens under each model's tokenizer; FLOPs counted at that length; "
             f"seconds = the measured per-sample seconds of a padded batch at the smallest profiled length of "
             f"{', '.join(map(str, selector['cost_lengths']))} that holds it):",
             f"  - tokens, small model: {quantiles('tokens')}; large model: {quantiles('tokens_large')}",
             f"  - small: {quantiles('cost_small_s', 1e3, ' ms')}; {quantiles('cost_small_flops', 1e-9, ' GFLOP')}",
             f"  - large: {quantiles('cost_large_s', 1e3, ' ms')}; {quantiles('cost_large_flops', 1e-9, ' GFLOP')}",
             f"- cascade's failure detector: escalate to the large model when the small model's confidence is below "
             f"{detector['threshold']:.4f}, chosen as {detector['rule']}; on validation it escalates "
             f"{detector['validation_escalated']:.0%} and serves {detector['validation_served_accuracy']:.3f} (large "
             f"{detector['validation_large_accuracy']:.3f}); held out it escalates {detector['held_out_escalated']:.0%}, "
             f"serves {detector['held_out_served_accuracy']:.3f}, and flags the small model's wrong answers with "
             f"balanced accuracy {detector['detector_balanced_accuracy']:.3f}. `cascade-gold` escalates exactly the "
             "wrong answers (gold labels): a bound, not a deployable selector"]
    for name, quality in selector["selectors"].items():
        lines.append(
            f"- {name} ({quality['model']}; features: {quality['features']}; fitted on {quality['validation_examples']} "
            f"validation examples, threshold {quality['threshold']}): on {quality['held_out_examples']} held-out "
            f"queries accuracy {quality['accuracy']:.3f}, balanced {quality['balanced_accuracy']:.3f} (always-small: "
            f"{quality['always_small_accuracy']:.3f}, balanced 0.5), sends {quality['sent_to_small']:.0%} to the small "
            f"model; its own cost per query {quality['cost_seconds'] * 1e6:.0f} us ({quality['cost_seconds_rule']}) and "
            f"{quality['cost_flops']:.0f} FLOPs ({quality['cost_flops_rule']}), charged on every miss")
    return lines + [""]


def write_pairs(folders: list[Path], tables: Path, plots: Path) -> list[Path]:
    loaded = [read_pair(folder) for folder in folders]
    replays = pd.concat([replays for replays, _ in loaded], ignore_index=True)
    summary = pair_summary(replays)
    text = ["# Caching this harness's own models", "",
            "Power-law traces over distinct held-out queries, each query charged its own cost; correctness from "
            "each model's evaluation. Each cell: the mean over seeded traces and its 95% Student-t interval over "
            "seeds; cost ratios are per-seed ratios to LFU + always-large on the same trace, then averaged. Served "
            "accuracy counts a hit as right when the model that produced the cached answer was. Selectors: "
            "answer-classifier runs the small model, then the large one where it rejects the small answer; "
            "query-classifier reads only the query's text and runs one model; both pay their own measured cost on "
            "every miss. Oracle: the best static cache with the perfect selector (free, the cheapest route to the best "
            "answer either model gives): a bound for static caches at that accuracy.", ""]
    written, sentences = [], []
    for (pair_replays, selector), folder in zip(loaded, folders):
        pair = Path(folder).name
        main_size = int(pair_replays.loc[pair_replays["setting"] == "main", "cache_size"].iloc[0])
        verdicts = selection_verdicts(pair_replays, main_size)
        sentences += selection_sentences(verdicts, selector, pair, main_size)
        text += _header(pair, selector)
        text += [f"### Cache {main_size}: cost over LFU+large and served accuracy", "",
                 main_table(summary, pair, main_size).to_markdown(index=False), "",
                 f"### Does selection pay? LEC + a trained selector, per-seed ratios (cache {main_size})", "",
                 "'pays': the whole 95% interval of the cost ratio is below 1; 'costs more': above 1. A selector "
                 "that pays in cost may still serve worse answers: the last column says whether the served "
                 "accuracy's difference to LFU+large is below or above 0 over its whole interval.", "",
                 _verdict_table(verdicts, pair).to_markdown(index=False) if len(verdicts) else "no trained selector replayed", ""]
        for figure in ("cost-vs-cache-size", "cost-vs-alpha", "accuracy-vs-speedup"):
            path = plots / f"caching-{pair}-{figure}.svg"
            _pair_figure(figure, summary[summary["pair"] == pair], main_size, selector, pair, path)
            written.append(path)
    verdict_text = ["# Does model selection pay on this harness's own models?", "",
                    "Generated from the pair tables: a cost ratio 'pays' where its whole 95% interval over the seeded "
                    "traces is below 1, 'costs more' where above. Served accuracy is judged without a cache, query "
                    "by query over the whole held-out split, against the large model's, with a 1-point margin. "
                    "'small' is the trivial router that always answers with the small model.", "", *sentences, ""]
    for path, content in ((tables / "caching-pairs.md", "\n".join(text)), (tables / "caching-pairs.csv", summary.to_csv(index=False)),
                          (tables / "caching-pairs-verdicts.md", "\n".join(verdict_text))):
        atomic_write_text(path, content)
        written.append(path)
    return written


MARKERS = {"large": "s", "cascade": "^", "cascade-gold": "v", "answer-classifier": "o", "query-classifier": "D",
           "bandit": "P"}


def _pair_figure(figure: str, summary: pd.DataFrame, main_size: int, selector: dict, pair: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    online = summary[summary["scenario"] == "online"]
    top_alpha = online["alpha"].max()
    fig, axis = plt.subplots(figsize=(5.5, 4))
    if figure == "accuracy-vs-speedup":
        points = online[(online["alpha"] == top_alpha) & (online["cache_size"] == main_size)]
        colours = {policy: f"C{index}" for index, policy in enumerate(sorted(points["policy"].unique()))}
        for row in points.itertuples():  # colour: cache policy; marker: selector
            axis.scatter(row.speedup_over_all_large, 100 * row.served_accuracy, s=24, color=colours[row.policy],
                         marker=MARKERS.get(row.selector, "x"), label=f"{row.policy.upper()}+{row.selector}")
        axis.scatter([1, selector["cost_ratio_seconds"]], [100 * selector["large_accuracy"], 100 * selector["small_accuracy"]],
                     color="black", marker="*", s=60)
        axis.annotate("large alone", (1, 100 * selector["large_accuracy"]), fontsize=6)
        axis.annotate("small alone", (selector["cost_ratio_seconds"], 100 * selector["small_accuracy"]), fontsize=6)
        axis.legend(fontsize=5, ncol=2)
        axis.set(xscale="log", xlabel="speed-up over the large model alone, no cache (measured seconds)",
                 ylabel="served accuracy %", title=f"{pair}: alpha {top_alpha}, cache {main_size}, online")
    else:
        if figure == "cost-vs-cache-size":
            lines, x, label = online[online["alpha"] == top_alpha], "cache_size", "cache size (answers)"
            title = f"{pair}: alpha {top_alpha}, online"
        else:
            lines, x, label = online[online["cache_size"] == main_size], "alpha", "alpha (smaller: more skewed)"
            title = f"{pair}: cache {main_size}, online"
        shown = [("lfu", "large"), ("lec", "large")] + [(p, s) for s in TRAINED for p in ("lfu", "lec")]
        for policy, name in shown:
            group = lines[(lines["policy"] == policy) & (lines["selector"] == name)].sort_values(x)
            if group.empty:
                continue
            axis.errorbar(group[x], group["seconds_over_lfu_large"],
                          yerr=[group["seconds_over_lfu_large"] - group["seconds_over_lfu_large_low"],
                                group["seconds_over_lfu_large_high"] - group["seconds_over_lfu_large"]],
                          marker=MARKERS.get(name, "x"), linestyle="--" if name == "large" else "-", capsize=2,
                          label=f"{policy.upper()}+{name}")
        axis.set(xlabel=label, ylabel="seconds / LFU+large (mean of per-seed ratios, 95% CI)", title=title)
        axis.legend(fontsize=6)
    fig.tight_layout()
    atomic_write_svg(path, fig)
    plt.close(fig)
