"""The paper's table at CPU scale: per backbone, rows = method and N, columns = the tasks in the paper's order and
their average, each cell with its measured speed-up; the majority-class rate and the flag on a teacher that does
not clear it; published values from a reference file beside ours, with the verdicts on where we differ; the bad
reference rows refused; and a task whose training split is missing left out of the workflow with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from revmux.analysis.references import match_references, read_references
from revmux.analysis.tables import MAJORITY_ROW, WEAK_TEACHER_MARK, paper_layout, profiles_table
from revmux.analysis.verdicts import judged_summary
from revmux.core.errors import RevmuxError
from test_verdicts import profile

RESAMPLES = 300
EXAMPLES = 400
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The majority-class rates the runs below are scored against (RTE's and SST-2's dev sets have about these).
MAJORITY = {"rte": 0.527, "sst-2": 0.509}


def runs(task: str, backbone: str, method: str, n: int, accuracy: float, teacher: float, seeds: int = 3) -> list[tuple]:
    """One run per seed, each (row, method correct, teacher correct, agrees) over 2 regroupings of EXAMPLES:
    seed s's teacher right on `teacher` of the examples, the method on `accuracy` + 1 point per seed."""
    found = []
    for seed in range(seeds):
        teacher_correct = (np.random.default_rng([seed, len(task), len(backbone)]).random((2, EXAMPLES)) < teacher)
        rng = np.random.default_rng([seed, n, len(task), len(backbone), sum(map(ord, method))])
        correct = teacher_correct if method == "identity" else rng.random((2, EXAMPLES)) < accuracy + 0.01 * seed
        row = {"task": task, "backbone": backbone, "method": method, "n": n, "p": 3, "seed": seed,
               "random_init": False, "backbone_provenance": "wheel", "depth": None}
        found.append((row, correct.astype(float), teacher_correct.astype(float), (correct == teacher_correct).astype(float)))
    return found


def timed(backbone: str, method: str, n: int, speedup: float, seed: int) -> dict:
    timing = profile(method, n, speedup, 1.6, seed=seed)
    timing["settings"]["backbone"] = timing["backbone"]["name"] = backbone
    return timing


def grid(reference_rows: str | None = None, tmp_path: Path | None = None, seeds: int = 3):
    """SST-2 and RTE on two backbones: a teacher that clears the majority class everywhere but on smollm2's RTE;
    RevMUX N=2 close to it, Hadamard N=2 far below; RevMUX faster on minilm-l6 (1.30x) than on smollm2 (1.45x)."""
    everything = []
    for backbone, teachers in (("minilm-l6", {"sst-2": 0.85, "rte": 0.66}), ("smollm2-135m", {"sst-2": 0.80, "rte": 0.54})):
        for task, teacher in teachers.items():
            everything += runs(task, backbone, "identity", 1, teacher, teacher, seeds)
            everything += runs(task, backbone, "revmux", 2, teacher - 0.01, teacher, seeds)
            everything += runs(task, backbone, "hadamard", 2, teacher - 0.2, teacher, seeds)
    profiles = profiles_table([
        timed("minilm-l6", "revmux", 2, 1.30, 1), timed("minilm-l6", "hadamard", 2, 1.40, 2),
        timed("smollm2-135m", "revmux", 2, 1.45, 3), timed("smollm2-135m", "hadamard", 2, 1.50, 4),
    ], RESAMPLES)
    references = None
    if reference_rows is not None:
        path = tmp_path / "published.csv"
        path.write_text("task,backbone,method,n,value,source\n" + reference_rows)
        references = read_references(path)
    summary, _, found = judged_summary(everything, profiles, RESAMPLES, MAJORITY, references)
    return summary, found, references


def row_of(summary, backbone, task, method):
    return summary[(summary.backbone == backbone) & (summary.task == task) & (summary.method == method)].iloc[0]


def test_the_layout_has_the_papers_task_order_each_cell_with_its_spread_over_seeds_and_its_speedup():
    summary, _, _ = grid()
    layout = paper_layout(summary, "minilm-l6")
    # The summary is sorted rte before sst-2; the paper's order puts SST-2 first.
    assert list(layout.columns) == ["sst-2", "rte", "Avg."]
    assert list(layout.index) == ["teacher", "hadamard N=2", "revmux N=2", MAJORITY_ROW]
    revmux = row_of(summary, "minilm-l6", "sst-2", "revmux")
    expected = f"{revmux.accuracy_mean * 100:.1f} ± {revmux.accuracy_seed_sd * 100:.1f} ({revmux.speedup:.2f}x)"
    assert layout.loc["revmux N=2", "sst-2"] == expected
    assert revmux.speedup == pytest.approx(1.30, abs=0.02)
    assert layout.loc["teacher", "sst-2"].endswith("(1.00x)")
    average = np.mean([row_of(summary, "minilm-l6", task, "revmux").accuracy_mean * 100 for task in ("sst-2", "rte")])
    assert layout.loc["revmux N=2", "Avg."] == f"{average:.1f}"
    assert layout.loc[MAJORITY_ROW].tolist() == ["50.9", "52.7", "51.8"]
    # Each backbone's table holds its own rows and its own measured speed-ups.
    other = paper_layout(summary, "smollm2-135m")
    assert "(1.45x)" in other.loc["revmux N=2", "sst-2"] and "(1.30x)" not in other.to_string()


def test_one_seed_gives_cells_without_a_spread():
    summary, _, _ = grid(seeds=1)
    cell = paper_layout(summary, "minilm-l6").loc["revmux N=2", "rte"]
    assert re.fullmatch(r"\d+\.\d \(1\.\d\dx\)", cell), cell


def test_a_teacher_that_does_not_clear_the_majority_class_by_the_margin_is_flagged_in_the_table_and_the_verdicts():
    summary, found, _ = grid()
    weak = row_of(summary, "smollm2-135m", "rte", "identity")
    assert weak.weak_teacher and weak.accuracy_ci_low <= MAJORITY["rte"] + 0.02 < weak.accuracy_mean + 0.02
    assert not row_of(summary, "minilm-l6", "rte", "identity").weak_teacher
    assert pd.isna(row_of(summary, "smollm2-135m", "rte", "revmux").weak_teacher)  # only teachers are judged
    assert WEAK_TEACHER_MARK in paper_layout(summary, "smollm2-135m").loc["teacher", "rte"]
    assert WEAK_TEACHER_MARK not in paper_layout(summary, "smollm2-135m").loc["teacher", "sst-2"]
    assert WEAK_TEACHER_MARK not in paper_layout(summary, "minilm-l6").to_string()
    floor = {(v.task, v.backbone): v.text for v in found if v.kind == "floor"}
    assert floor[("rte", "smollm2-135m")].startswith("The teacher is weak") and "52.7%" in floor[("rte", "smollm2-135m")]
    assert floor[("rte", "minilm-l6")].startswith("The teacher clears the majority class")
    # Every closeness statement against the weak teacher says so, and only those.
    closeness = {(v.task, v.backbone): v.text for v in found if v.kind == "closeness"}
    assert "a weak teacher" in closeness[("rte", "smollm2-135m")]
    assert "a weak teacher" not in closeness[("sst-2", "smollm2-135m")]


def test_the_margin_over_the_majority_class_is_two_points_at_the_low_end_of_the_teachers_interval():
    from revmux.analysis.tables import check_teachers

    lows = [0.52, 0.535, 0.546, 0.548]  # below the floor, above it by less than 2 points, by 1.9, by 2.1
    summary = pd.DataFrame({"task": "rte", "method": ["identity"] * 4 + ["revmux"], "accuracy_ci_low": lows + [0.3]})
    checked = check_teachers(summary, {"rte": 0.527})
    assert checked["weak_teacher"].tolist() == [True, True, True, False, None]
    assert checked["majority_rate"].tolist() == [0.527] * 5


def test_closeness_to_the_teacher_is_read_off_each_options_paired_interval_closest_first_per_n():
    summary, found, _ = grid()
    line = next(v for v in found if v.kind == "closeness" and v.task == "sst-2" and v.backbone == "minilm-l6")
    assert line.text.startswith("At N=2,") and line.options == ("revmux N=2", "hadamard N=2")
    for label in line.options:
        method = label.split()[0]
        low = row_of(summary, "minilm-l6", "sst-2", method).delta_ci_low
        assert f"{label} within {-low * 100:.1f} points" in line.text
    assert -row_of(summary, "minilm-l6", "sst-2", "hadamard").delta_ci_low > 0.15


def test_published_values_sit_beside_ours_with_the_difference_and_verdicts_say_where_we_differ(tmp_path):
    rows = ("sst-2,minilm-l6,revmux,2,84.0,made up for this test\n"          # near ours: inside our interval
            "sst-2,bert-base-uncased,teacher,1,97.0,made up for this test\n"  # same family, far above ours
            "rte,llama-3-8b-instruct,revmux,2,40.0,made up for this test\n")  # the decoder family only
    summary, found, references = grid(rows, tmp_path)
    matches = match_references(summary, references)
    layout = paper_layout(summary, "minilm-l6", matches)
    ours = row_of(summary, "minilm-l6", "sst-2", "identity").accuracy_mean * 100
    assert layout.loc["teacher", "sst-2"].endswith(f"; published 97.0 (bert-base-uncased), Δ {ours - 97.0:+.1f}*")
    near = row_of(summary, "minilm-l6", "sst-2", "revmux").accuracy_mean * 100
    assert layout.loc["revmux N=2", "sst-2"].endswith(f"x); published 84.0, Δ {near - 84.0:+.1f}")  # no *: inside
    assert "published" not in layout.loc["revmux N=2", "rte"]  # the LLaMA value is not set beside an encoder
    assert "published 40.0 (llama-3-8b-instruct)" in paper_layout(summary, "smollm2-135m", matches).loc["revmux N=2", "rte"]
    published = [v.text for v in found if v.kind == "published"]
    assert any(text.startswith("teacher differs from the published value beyond our interval") and "bert-base-uncased"
               in text and "points below it" in text for text in published)
    assert any(text.startswith("Within our 95% interval of the published value: revmux N=2 (84.0% published")
               for text in published)
    assert not any(v.kind == "published" for v in grid()[1])  # no file, no such verdict


@pytest.mark.parametrize(("row", "problem", "fix"), [
    ("sst2,minilm-l6,revmux,2,80,paper", "unknown task 'sst2'", "use one of sst-2, rte"),
    ("sst-2,bert-large,revmux,2,80,paper", "unknown backbone 'bert-large'", "revmux backbones"),
    ("sst-2,minilm-l6,revmuxx,2,80,paper", "unknown method 'revmuxx'", "use identity (or teacher)"),
    ("sst-2,minilm-l6,revmux,2,91.2%,paper", "value '91.2%' is not a number", "accuracy in %"),
    ("sst-2,minilm-l6,revmux,2,120,paper", "value 120 is outside [0, 100]", "between 0 and 100"),
    ("sst-2,minilm-l6,revmux,2,-3,paper", "value -3 is outside [0, 100]", "between 0 and 100"),
    ("sst-2,minilm-l6,revmux,2,80,", "no source", "say where the value was published"),
    ("sst-2,minilm-l6,revmux,2,80,  ", "no source", "say where the value was published"),
    ("sst-2,minilm-l6,revmux,1,80,paper", "revmux multiplexes, but n is 1", "2 or more"),
    ("sst-2,minilm-l6,teacher,2,80,paper", "identity does not multiplex, but n is 2", "n = 1"),
    ("sst-2,minilm-l6,revmux,2,80,Table 2, row 4", "7 fields, the header has 6", "quote a field"),
    ("sst-2,minilm-l6,ora,4,80,paper", "sst-2, minilm-l6, ora, 4 was already given on line 2", "one published value"),
])
def test_a_bad_reference_row_is_refused_naming_its_line_and_the_fix(tmp_path, row, problem, fix):
    path = tmp_path / "published.csv"
    path.write_text(f"task,backbone,method,n,value,source\nsst-2,minilm-l6,ora,4,80,paper\n{row}\n")
    with pytest.raises(RevmuxError) as refused:
        read_references(path)
    message = str(refused.value)
    assert message.startswith(f"reference file {path}, line 3: ") and problem in message and fix in message


def test_a_reference_file_without_a_column_is_refused_with_the_header_it_needs(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text("task,backbone,method,n,value\nsst-2,minilm-l6,revmux,2,80\n")
    with pytest.raises(RevmuxError, match=r"line 1: the header lacks source; it must name task,backbone,method,n,value,source"):
        read_references(path)


def test_the_made_up_fixture_says_so_in_its_name_its_comment_and_every_source():
    path = FIXTURES / "references" / "made-up-for-tests.csv"
    assert "MADE UP FOR THE TESTS" in path.read_text().splitlines()[0]
    assert read_references(path)["source"].str.contains("made up for the tests").all()


# --- a task whose data is missing is left out of the workflow, with the reason ---------------------


def glue_folder(root: Path, with_qnli_train: bool) -> Path:
    for task in ("RTE", "QNLI"):
        (root / task).mkdir(parents=True)
        for split in ("train", "dev"):
            if task == "QNLI" and split == "train" and not with_qnli_train:
                continue
            (root / task / f"{split}.tsv").write_text("index\tquestion\tsentence\tlabel\n")
    return root


@pytest.mark.parametrize("with_qnli_train", [False, True])
def test_a_task_if_available_joins_the_grid_only_when_its_training_split_is_there(tmp_path, with_qnli_train):
    from revmux.workflow.multiplexing import add_available_tasks

    folder = glue_folder(tmp_path / "glue", with_qnli_train)
    config = {"tasks": ["rte"], "tasks_if_available": ["qnli"], "data": {"source": "local", "glue_dir": str(folder)}}
    left_out = add_available_tasks(config)
    if with_qnli_train:
        assert config["tasks"] == ["rte", "qnli"] and left_out == []
    else:
        assert config["tasks"] == ["rte"]
        assert len(left_out) == 1 and left_out[0].startswith("qnli left out (tasks_if_available): GLUE task QNLI split "
                                                             "train not found") and "QNLI/train.tsv" in left_out[0]


def test_an_unknown_task_if_available_is_a_configuration_error():
    from revmux.workflow.multiplexing import ConfigError, add_available_tasks

    with pytest.raises(ConfigError, match="config key tasks_if_available: unknown task 'qnlii'"):
        add_available_tasks({"tasks": ["rte"], "tasks_if_available": ["qnlii"], "data": {"source": "local"}})


def test_the_paper_cpu_workflow_starts_without_qnli_and_prints_why(tmp_path):
    from workflow_run import snakemake

    folder = glue_folder(tmp_path / "glue", with_qnli_train=False)
    for task in ("SST-2", "MRPC"):
        (folder / task).mkdir()
        for split in ("train", "dev"):
            (folder / task / f"{split}.tsv").write_text("")
    result = snakemake("-n", "--quiet", "rules", "--configfile", "config/paper-cpu.yaml",
                       "--config", f'data={{"glue_dir": "{folder}"}}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"qnli left out (tasks_if_available): GLUE task QNLI split train not found under {folder}" in result.stderr
    assert "results/qnli/" not in result.stdout
