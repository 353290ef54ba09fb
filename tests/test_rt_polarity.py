from revmux.data import load_task, split_hash
from revmux.data.rt_polarity import read_corpus
from revmux.data.tasks import rt_polarity_dir


def test_corpus_is_the_labelled_deduplicated_review_sentences(resources):
    corpus = read_corpus(rt_polarity_dir(resources))
    assert len(corpus) == 12752
    assert corpus["label"].value_counts().to_dict() == {1: 7368, 0: 5384}
    assert corpus["text"].is_unique


def test_split_keeps_each_movie_in_one_split_and_is_fixed(resources):
    corpus = read_corpus(rt_polarity_dir(resources))
    data = load_task("rt-polarity", resources=resources)
    assert data.task.eval_split == "test"
    assert "SST" not in data.task.name.upper()
    movies = {}
    for name, split in data.splits.items():
        movies[name] = set(corpus.loc[split["idx"], "movie"])
        assert len(split) >= 0.1 * len(corpus) or name == "train"
        assert corpus.loc[split["idx"], "text"].tolist() == split["text_a"].tolist()
    assert movies["train"].isdisjoint(movies["validation"])
    assert movies["train"].isdisjoint(movies["test"])
    assert movies["validation"].isdisjoint(movies["test"])
    assert sum(len(split) for split in data.splits.values()) == len(corpus)
    again = load_task("rt-polarity", resources=resources)
    assert all(split_hash(again.splits[n]) == split_hash(s) for n, s in data.splits.items())
