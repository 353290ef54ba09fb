import pandas as pd
import pytest

from conftest import requires_full_data, requires_hub
from revmux.data import load_task, split_hash
from revmux.data import glue
from revmux.data.splits import UNLABELLED, carve_validation
from revmux.core.errors import RevmuxError

# Row counts and label balance as listed in ../shared/data/glue/SOURCE.md (label id -> count).
EXPECTED = {
    ("sst-2", "train"): (67349, {1: 37569, 0: 29780}),
    ("sst-2", "dev"): (872, {1: 444, 0: 428}),
    ("sst-2", "test"): (1821, {UNLABELLED: 1821}),
    ("rte", "train"): (2490, {0: 1249, 1: 1241}),
    ("rte", "dev"): (277, {0: 146, 1: 131}),
    ("rte", "test"): (3000, {UNLABELLED: 3000}),
    ("qnli", "dev"): (5463, {0: 2702, 1: 2761}),
    ("qnli", "test"): (5463, {UNLABELLED: 5463}),
    ("mrpc", "train"): (3668, {1: 2474, 0: 1194}),
    ("mrpc", "dev"): (408, {1: 279, 0: 129}),
    ("mrpc", "test"): (1725, {UNLABELLED: 1725}),
}
LABEL_NAMES = {
    "sst-2": ("negative", "positive"), "rte": ("entailment", "not_entailment"),
    "qnli": ("entailment", "not_entailment"), "mrpc": ("not_equivalent", "equivalent"),
}


@requires_full_data
@pytest.mark.parametrize(("task", "split"), sorted(EXPECTED))
def test_local_glue_files_have_the_published_counts(glue_dir, task, split):
    rows, balance = EXPECTED[(task, split)]
    table = glue.read_glue_tsv(glue_dir, task, split, LABEL_NAMES[task])
    assert len(table) == rows
    assert table["label"].value_counts().to_dict() == balance
    assert table["text_a"].str.len().min() > 0
    assert (table["text_b"].isna().all()) == (task == "sst-2")


def test_mrpc_bom_and_bare_quotes_are_read_verbatim(glue_dir):
    table = glue.read_glue_tsv(glue_dir, "mrpc", "train", LABEL_NAMES["mrpc"])
    first = table.iloc[0]
    assert first["text_a"].startswith("Amrozi accused his brother")
    assert first["label"] == 1
    # Bare quotes stay part of the text instead of opening a CSV quoted field.
    assert table["text_a"].str.contains('"').sum() > 10


def test_task_splits_carve_validation_from_train_and_keep_dev_held_out(glue_dir):
    data = load_task("rte", "local", glue_dir)
    assert list(data.splits) == ["train", "validation", "dev", "test"]
    assert data.eval is data.splits["dev"]
    train, validation = data.splits["train"], data.splits["validation"]
    assert len(train) + len(validation) == len(glue.read_glue_tsv(glue_dir, "rte", "train", LABEL_NAMES["rte"]))
    assert set(train["idx"]).isdisjoint(validation["idx"])
    assert split_hash(load_task("rte", "local", glue_dir).splits["validation"]) == split_hash(validation)


def test_carve_validation_is_capped_and_seeded():
    frame = pd.DataFrame({"idx": range(50000), "text_a": "x", "text_b": None, "label": 0})
    train, validation = carve_validation(frame)
    assert len(validation) == 2000 and len(train) == 48000
    assert carve_validation(frame, seed=1)[1]["idx"].tolist() != validation["idx"].tolist()


def test_missing_split_names_the_file_and_the_fix(glue_dir):
    with pytest.raises(RevmuxError, match=r"QNLI split train not found .*expected QNLI/train.tsv.*source hub"):
        load_task("qnli", "local", glue_dir)


def test_missing_task_directory_names_the_file(tmp_path):
    with pytest.raises(RevmuxError, match=r"GLUE task RTE .*expected RTE/train.tsv; pass glue_dir="):
        load_task("rte", "local", tmp_path)


def test_unknown_label_and_bad_rows_are_refused(tmp_path):
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\nfine film\tmaybe\n")
    with pytest.raises(RevmuxError, match="label 'maybe'"):
        glue.read_glue_tsv(tmp_path, "sst-2", "train", LABEL_NAMES["sst-2"])
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\nfine\tfilm\t1\n")
    with pytest.raises(RevmuxError, match="line 2 has 3 fields"):
        glue.read_glue_tsv(tmp_path, "sst-2", "train", LABEL_NAMES["sst-2"])


def test_unknown_task_and_source_are_refused():
    with pytest.raises(RevmuxError, match="unknown task 'sst2'.*sst-2"):
        load_task("sst2")
    with pytest.raises(RevmuxError, match="has no source 'wheel'"):
        load_task("sst-2", "wheel")


def test_hub_unreachable_gives_one_clear_error(monkeypatch):
    monkeypatch.setattr(glue, "hub_reachable", lambda: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(RevmuxError, match="not reachable.*Use source local with glue_dir="):
        load_task("sst-2", "hub")


@requires_hub
@pytest.mark.hub
@pytest.mark.parametrize("task", ["sst-2", "rte", "mrpc"])
def test_hub_and_local_files_give_identical_examples(glue_dir, task):
    local = load_task(task, "local", glue_dir)
    hub = load_task(task, "hub")
    for split in ("train", "validation", "dev"):
        assert split_hash(hub.splits[split]) == split_hash(local.splits[split]), split


@pytest.mark.parametrize("split", ["train", "validation", "eval"])
def test_a_split_size_the_data_cannot_fill_is_refused_with_the_numbers(glue_dir, split):
    from revmux.multiplexing.config import DataConfig
    from revmux.multiplexing.inputs import load_run_splits

    data = load_task("sst-2", "local", glue_dir)
    available = len(data.splits[split] if split != "eval" else data.eval)
    assert len(load_run_splits(DataConfig("sst-2", "local", str(glue_dir), **{f"{split}_size": available}))[0][split]) == available
    with pytest.raises(RevmuxError, match=rf"the {split} split holds {available} rows.* but {available + 1} were asked for: "
                                          rf"set data.{split}_size \(--{split}-size\) to at most {available}"):
        load_run_splits(DataConfig("sst-2", "local", str(glue_dir), **{f"{split}_size": available + 1}))
