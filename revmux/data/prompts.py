"""How a task's examples are shown to each backbone family, and the label words that score them.

Encoders read the raw text (pair) and are scored by a trained classifier. T5 and decoders read a
short instruction and are scored by the LM head on one label word per class (the paper's words:
negative/positive for sentiment, yes/no for the pair tasks).
"""

from __future__ import annotations

from revmux.errors import RevmuxError

LABEL_WORDS = {
    "sst-2": ("negative", "positive"),
    "rt-polarity": ("negative", "positive"),
    "rte": ("yes", "no"),  # label 0 is entailment
    "qnli": ("yes", "no"),  # label 0 is entailment
    "mrpc": ("no", "yes"),  # label 1 is equivalent
}

# T5 keeps its GLUE task prefixes; decoders get a question ending where the label word goes.
_T5 = {
    "sst-2": "sst2 sentence: {a}",
    "rt-polarity": "sst2 sentence: {a}",
    "rte": "rte sentence1: {a} sentence2: {b}",
    "qnli": "qnli question: {a} sentence: {b}",
    "mrpc": "mrpc sentence1: {a} sentence2: {b}",
}
_DECODER = {
    "sst-2": "Review: {a}\nIs this review negative or positive? Answer:",
    "rt-polarity": "Review: {a}\nIs this review negative or positive? Answer:",
    "rte": "Premise: {a}\nHypothesis: {b}\nDoes the premise entail the hypothesis, yes or no? Answer:",
    "qnli": "Question: {a}\nSentence: {b}\nDoes the sentence answer the question, yes or no? Answer:",
    "mrpc": "Sentence 1: {a}\nSentence 2: {b}\nDo the two sentences mean the same, yes or no? Answer:",
}


def format_inputs(
    task: str, family: str, text_a: list[str], text_b: list[str] | None,
) -> tuple[list[str], list[str] | None]:
    """The tokenizer's first and second inputs for this family."""
    if family == "encoder":
        return list(text_a), (list(text_b) if text_b is not None else None)
    templates = _T5 if family == "encoder-decoder" else _DECODER
    if task not in templates:
        raise RevmuxError(f"no prompt template for task {task!r}")
    seconds = text_b if text_b is not None else [None] * len(text_a)
    return [templates[task].format(a=a, b=b) for a, b in zip(text_a, seconds)], None


def label_token_ids(tokenizer, task: str, family: str) -> list[int]:
    """The first token of each label word, as the model would produce it after the prompt."""
    prefix = " " if family == "decoder" else ""
    ids = [tokenizer(prefix + word, add_special_tokens=False)["input_ids"][0] for word in LABEL_WORDS[task]]
    if len(set(ids)) != len(ids):
        raise RevmuxError(f"label words {LABEL_WORDS[task]} of task {task} share a first token in this tokenizer")
    return ids
