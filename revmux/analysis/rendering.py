"""From result files to the table files people read: collects, builds the tables (revmux.analysis.tables),
renders Markdown, LaTeX and HTML with the provenance of the numbers, and writes them atomically."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from revmux.core.atomic import atomic_write_text
from revmux.core.errors import RevmuxError
from revmux.core.provenance import git_commit
from revmux.core.layout import SUMMARY_TABLE_ID
from revmux.analysis.references import match_references, read_references
from revmux.analysis.results import Results, collect
from revmux.analysis.tables import (
    MAJORITY_ROW, NOT_RECORDED, PUBLISHED_OUTSIDE_MARK, TEACHER_MARGIN, WEAK_TEACHER_MARK, at_setting,
    batch_sweep_table, ceiling_flags, choose_profile_setting, correctness, display_summary, majority_rate,
    paper_layout, profiles_table, run_row, runs_table, setting_label, speed_csv,
)
from revmux.analysis.verdicts import VERDICT_NOTE, judged_summary, verdicts_markdown

BATCH_SWEEP_NOTE = ("Samples/s per batch size (the method's speed-up over the teacher at that batch in brackets; – "
                    "where the batch does not fill the composites of N). Where the teacher's samples/s stop rising, "
                    "plain batching has saturated the device. 'invalid': that profile's timing is marked invalid (see the "
                    "profiles); the teacher's cell is when any profile at its batch is.")

LAYOUT_NOTE = (
    "Rows: method and N; columns: tasks and their average. A cell: accuracy % mean ± sd over seeds (no ± with one "
    "seed), the measured speed-up over the teacher beside it in brackets (the summary's: one setting, the median "
    f"over the option's profiles). '{MAJORITY_ROW}': always answering the most frequent label of the evaluated "
    f"examples. '{WEAK_TEACHER_MARK}': the teacher's 95% interval's low end is not above that rate plus "
    f"{TEACHER_MARGIN * 100:.0f} points, so closeness to it says little."
)
REFERENCE_NOTE = (
    "Published values from {path}: 'published' is the value a paper gives (with the backbone it was measured on "
    "where that is not this one), Δ ours minus published in points; "
    f"'{PUBLISHED_OUTSIDE_MARK}': the published value lies outside our 95% accuracy interval."
)

BOOTSTRAP_NOTE = (
    "Accuracy intervals: 95%, the wider of two: a hierarchical percentile bootstrap (2,000 resamples by default): "
    "seeds with replacement, then one set of examples with replacement that every drawn seed shares (every seed is "
    "evaluated on the same examples); and, with 2 seeds or more, Student's t interval over the seeds' means (a "
    "bootstrap over 3 seeds never reaches past the extreme seeds). The unit below seeds is the example with all its "
    "regroupings, since the composites change with every regrouping. The change against the teacher is paired: each "
    "seed's run against that seed's own teacher, with the same drawn seeds and examples. 'sd over seeds': the standard "
    "deviation of the per-seed means ('n/a (1 seed)': seed-to-seed variation was not measured, and the interval then "
    "covers examples only)."
)
SPEED_NOTE = (
    "Speed-up intervals: 95% percentile bootstrap over the profile's timed rounds (the teacher's and the method's "
    "values of a round together); they cover within-run timing noise only. Ceiling: the speed-up if time followed the "
    "counted FLOPs (teacher / path; a multiplexer's path includes its mux and demux, so its ceiling is below the "
    "cost-free (a + b) / (a + b / N) drawn in the figure); n/a for quantized paths, since "
    "quantization changes the cost of each FLOP, not their number; nor is it a hard bound (the count leaves out "
    "element-wise work and memory traffic). 'above ceiling': a measured speed-up above its ceiling; 'SUSPECT': one "
    "whose interval lies wholly above it, or whose profile is invalid."
)


def provenance(results: Results) -> dict:
    """What the numbers came from: code, packages, data, hardware, and which inputs are proxies."""
    versions = sorted({json.dumps(run.metrics["versions"], sort_keys=True) for run in results.runs})
    data = {}
    for run in results.runs:
        data.setdefault(run.metrics["config"]["data"]["task"], {
            "source": run.metrics["data_source"], "hashes": run.metrics["data_hashes"],
        })
    hardware = sorted({
        (profile["environment"]["gpu"] or {}).get("name") or profile["environment"]["host"]["cpu"]
        for profile in results.profiles
    })
    backbones = {run.metrics["config"]["backbone"]: run.metrics["backbone_provenance"] for run in results.runs}
    backbones.update({p["backbone"]["name"]: p["backbone"]["provenance"] for p in results.profiles})
    return {
        "git_commit": git_commit(),
        "versions": [json.loads(v) for v in versions],
        "data": data,
        "hardware": hardware,
        "backbones": backbones,
        "skipped_files": results.skipped,
        "aggregated_files": [str(run.path) for run in results.runs] + results.profile_paths,
    }


def majority_rates(results: Results) -> dict[str, float]:
    """Per task, the majority-class rate of its evaluated examples (every run of a task evaluates the same ones)."""
    labels = {}
    for run in results.runs:
        first = run.predictions[run.predictions["regrouping"] == run.predictions["regrouping"].min()]
        labels.setdefault(run.metrics["config"]["data"]["task"], first.sort_values("example")["label"])
    return {task: majority_rate(values) for task, values in labels.items()}


def build_tables(results: Results, choice: dict | None = None, resamples: int = 2000,
                 references: Path | None = None) -> dict:
    """`choice`: any of device, dtype, threads, batch, length fixing the profile setting of the speed columns;
    `references`: a reference file of published values (`revmux.analysis.references`) to set beside ours."""
    published = read_references(references) if references else None
    rows, matrices = [], []
    for run in results.runs:
        row = run_row(run.metrics, run.predictions)
        rows.append(row)
        matrices.append((row, *correctness(run.predictions)))
    profiles = profiles_table(results.profiles, resamples)
    try:
        setting = choose_profile_setting(profiles, **(choice or {}))
    except ValueError as error:
        raise RevmuxError(str(error)) from None
    summary, found = pd.DataFrame(), []
    if matrices:
        summary, _, found = judged_summary(matrices, at_setting(profiles, setting), resamples,
                                           majority_rates(results), published)
    return {"runs": runs_table(rows), "profiles": profiles, "summary": summary, "setting": setting,
            "verdicts": found, "batch_sweep": batch_sweep_table(profiles),
            "references": references, "published": match_references(summary, published)}


def _layout_note(tables: dict) -> str:
    if tables["published"].empty:
        return LAYOUT_NOTE
    return LAYOUT_NOTE + " " + REFERENCE_NOTE.format(path=tables["references"])


def _layouts(tables: dict) -> dict[str, pd.DataFrame]:
    """The paper's layout per backbone, with the published values where a reference file gave some."""
    summary = tables["summary"]
    return {backbone: paper_layout(summary, backbone, tables["published"]) for backbone in dict.fromkeys(summary["backbone"])}


def _setting_note(tables: dict) -> str:
    setting, profiles = tables["setting"], tables["profiles"]
    if setting is None:
        return "No timing profiles were found: speed, memory and energy columns are empty. " + BOOTSTRAP_NOTE
    chosen = at_setting(profiles, setting)
    note = (f"Speed, latency, memory and energy measured on {setting_label(setting)} (`revmux speed`). One rule for "
            "every one of these numbers: the median over the option's profiles at this setting; the teacher, timed side "
            f"by side with each method in every profile, gets the median over all {len(chosen)} of them. Absolute "
            "throughput moves between processes by more than a speed-up does, so 'teacher in the same profiles' gives the "
            "teacher's throughput in the option's own profiles: the speed-up divides by that, not by the teacher's row.")
    kernels = chosen.loc[chosen["device"] == "cpu", "cpu_kernels"].dropna().unique()
    if len(kernels):  # int8 speed-ups depend on these more than on anything else in the setting
        note += f" CPU kernels: {' / '.join(sorted(kernels))}."
    note += (" Weights: the resident bytes of each path's model; working set: its peak above the loaded, resident "
             "model (MB = 10^6 bytes).")
    notes = [chosen[f"{path}_{name}_note"] for path in ("teacher", "multiplexed") for name in ("weights", "working_set")
             if f"{path}_{name}_note" in chosen]
    reasons = pd.concat(notes).dropna().unique() if notes else []
    if any(reason == NOT_RECORDED for reason in reasons):
        note += f" '–': {NOT_RECORDED}."
    unmeasured = [reason for reason in reasons if reason != NOT_RECORDED]
    if unmeasured:
        note += f" 'n/a': {'; '.join(unmeasured)}."
    energy = chosen["energy_unavailable"].dropna().unique()
    if len(energy):
        note += f" Energy not measured ('–'): {'; '.join(energy)}."
    return note + " " + SPEED_NOTE + " " + BOOTSTRAP_NOTE


def verdict_text(tables: dict) -> str:
    """verdicts.md: the verdict sentences on their own, to be quoted as they are."""
    return "\n".join(["# Verdicts", "", VERDICT_NOTE, "", verdicts_markdown(tables["verdicts"], level=2)]).rstrip() + "\n"


def markdown(tables: dict) -> str:
    summary = tables["summary"]
    parts = ["# Accuracy and speed", "", _setting_note(tables), ""]
    flags = ceiling_flags(summary)
    if flags:
        parts += ["Speed-ups above their ceiling:", ""] + [f"- {line}" for line in flags] + [""]
    for backbone, layout in _layouts(tables).items():
        parts += [f"## {backbone}: accuracy % in the paper's layout (mean ± sd over seeds, speed-up)", "",
                  _layout_note(tables), "", layout.to_markdown(), ""]
    parts += ["## Summary", "", display_summary(summary).to_markdown(index=False), ""]
    parts += ["## Verdicts", "", VERDICT_NOTE, "", verdicts_markdown(tables["verdicts"], level=3)]
    if not tables["batch_sweep"].empty:
        parts += ["## Batching headroom", "", BATCH_SWEEP_NOTE, "", tables["batch_sweep"].to_markdown(index=False), ""]
    return "\n".join(parts)


def latex(tables: dict) -> str:
    """The paper's layout per backbone: rows = methods and N, columns = tasks and their average."""
    parts = ["% Accuracy (%) mean $\\pm$ sd over seeds, measured speed-up; generated by `revmux aggregate`."]
    for backbone, layout in _layouts(tables).items():
        table = layout.apply(lambda column: column.map(_latex_cell))
        table.index = table.index.map(_latex_cell)
        parts.append(table.to_latex(
            # a bare % would start a LaTeX comment and swallow the rest of the caption
            caption=_latex_cell(f"Accuracy on {', '.join(layout.columns[:-1])} with {backbone}. {_layout_note(tables)} "
                                f"{BOOTSTRAP_NOTE}"),
            label=f"tab:accuracy-{backbone}", escape=False, column_format="l" + "c" * len(table.columns),
        ))
    return "\n".join(parts)


def _latex_cell(text: str) -> str:
    """Table text as LaTeX: its symbols in math mode, and % and _ escaped (a bare % starts a comment)."""
    for plain, escaped in (("%", r"\%"), ("_", r"\_"), ("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("–", "--"),
                           ("[", "{[}"), ("]", "{]}")):
        text = str(text).replace(plain, escaped)
    return text


def html_page(tables: dict, origin: dict) -> str:
    summary = tables["summary"]
    flags = ceiling_flags(summary)
    sections = [f"<p>{html.escape(_setting_note(tables))}</p>"]
    if flags:
        sections += ["<p>Speed-ups above their ceiling:</p>", "<ul>"] + [f"<li>{html.escape(line)}</li>" for line in flags] + ["</ul>"]
    sections += ["<h2>Summary</h2>",
                 display_summary(summary).to_html(index=False, table_id=SUMMARY_TABLE_ID, border=0, classes="revmux"),
                 "<h2>Verdicts</h2>", f"<p>{html.escape(VERDICT_NOTE)}</p>"]
    groups: dict[tuple, list] = {}
    for verdict in tables["verdicts"]:
        groups.setdefault((verdict.task, verdict.backbone), []).append(verdict)
    for (task, backbone), lines in groups.items():
        sections += [f"<h3>{html.escape(task)}, {html.escape(backbone)}</h3>", "<ul>"]
        sections += [f"<li>{html.escape(line.text)}</li>" for line in lines] + ["</ul>"]
    if not tables["batch_sweep"].empty:
        sections += ["<h2>Batching headroom</h2>", f"<p>{html.escape(BATCH_SWEEP_NOTE)}</p>",
                     tables["batch_sweep"].to_html(index=False, border=0, classes="revmux")]
    for backbone, layout in _layouts(tables).items():
        sections += [f"<h2>{html.escape(backbone)}: accuracy % in the paper's layout (mean ± sd over seeds, speed-up)</h2>",
                     f"<p>{html.escape(_layout_note(tables))}</p>", layout.to_html(border=0, classes="revmux")]
    if not tables["profiles"].empty:
        columns = ["backbone", "method", "n", "p", "batch", "length", "device", "dtype", "threads", "speedup",
                   "speedup_ci_low", "speedup_ci_high", "ceiling", "ceiling_flag", "share_of_ceiling",
                   "teacher_samples_per_s", "multiplexed_samples_per_s", "valid", "invalid_reasons"]
        sections += ["<h2>Timing profiles</h2>",
                     tables["profiles"][columns].to_html(index=False, border=0, classes="revmux", float_format="{:.3f}".format)]
    items = [
        ("git commit", origin["git_commit"] or "unknown"),
        ("hardware", ", ".join(origin["hardware"]) or "no profiles"),
        ("backbones", "; ".join(f"{name}: {source}" for name, source in origin["backbones"].items())),
        ("data", "; ".join(f"{task}: {d['source']}, {json.dumps(d['hashes'])}" for task, d in origin["data"].items())),
        ("package versions", "; ".join(json.dumps(v) for v in origin["versions"])),
        ("skipped broken files", "; ".join(origin["skipped_files"]) or "none"),
    ]
    sections += ["<h2>Provenance</h2>", "<ul>"] + [
        f"<li><b>{html.escape(key)}</b>: {html.escape(value)}</li>" for key, value in items] + ["</ul>"]
    style = ("body{font-family:sans-serif;margin:1.5em} table.revmux{border-collapse:collapse;font-size:0.9em}"
             "table.revmux td,table.revmux th{padding:0.25em 0.6em;border-bottom:1px solid #ddd;text-align:right}")
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>RevMUX: accuracy and speed</title>"
            f"<style>{style}</style></head><body><h1>RevMUX: accuracy and speed</h1>\n" + "\n".join(sections)
            + "\n</body></html>\n")


def write_tables(metrics: list[Path], profiles: list[Path], out: Path, choice: dict | None = None,
                 resamples: int = 2000, keep_going: bool = False,
                 references: Path | None = None) -> tuple[list[Path], list[str]]:
    """Tables of exactly these result files (the workflow passes its current grid's, so runs of another
    configuration lying in the same results directory never enter them); `references`: published values to
    set beside ours."""
    results = collect(metrics, profiles, keep_going)
    if not results.runs:
        raise RevmuxError("no evaluated runs (metrics.json) given: the summary needs at least one")
    tables = build_tables(results, choice, resamples, references)
    origin = provenance(results)
    files = {
        "runs.csv": tables["runs"].to_csv(index=False),
        "speed.csv": speed_csv(tables["profiles"]),
        "summary.csv": tables["summary"].to_csv(index=False),
        **({"published.csv": tables["published"].to_csv(index=False)} if references else {}),
        "summary.md": markdown(tables),
        "verdicts.md": verdict_text(tables),
        "summary.tex": latex(tables),
        "summary.html": html_page(tables, origin),
        "provenance.json": json.dumps(origin, indent=2) + "\n",
    }
    written = []
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written.append(out / name)
    return written, results.skipped
