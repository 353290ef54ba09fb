"""How a task's examples are shown in each prompt style, and the label words that score them.

A backbone's spec names its style (revmux.backbones): no style = the raw text (pair), scored by a
trained classifier; `t5` (T5's GLUE task prefixes) and `instruction` (a question that ends where the
label word goes) are scored by the LM head on one label word per class (the paper's words:
negative/positive for sentiment, yes/no for the pair tasks).
"""

from __future__ import annotations

from revmux.core.errors import RevmuxError

LABEL_WORDS = {
    "sst-2": ("negative", "positive"),
    "rt-polarity": ("negative", "positive"),
    "rte": ("yes", "no"),  # label 0 is entailment
    "qnli": ("yes", "no"),  # label 0 is entailment
    "mrpc": ("no", "yes"),  # label 1 is equivalent
}

_T5 = {
    "sst-2": "sst2 sentence: {a}",
    "rt-polarity": "sst2 sentence: {a}",
    "rte": "rte sentence1: {a} sentence2: {b}",
    "qnli": "qnli question: {a} sentence: {b}",
    "mrpc": "mrpc sentence1: {a} sentence2: {b}",
}
_INSTRUCTION = {
    "sst-2": "Review: {a}\nIs this review negative or positive? Answer:",
    "rt-polarity": "Review: {a}\nIs this review negative or positive? Answer:",
    "rte": "Premise: {a}\nHypothesis: {b}\nDoes the premise entail the hypothesis, yes or no? Answer:",
    "qnli": "Question: {a}\nSentence: {b}\nDoes the sentence answer the question, yes or no? Answer:",
    "mrpc": "Sentence 1: {a}\nSentence 2: {b}\nDo the two sentences mean the same, yes or no? Answer:",
}


TEMPLATES = {"t5": _T5, "instruction": _INSTRUCTION}


def format_inputs(
    task: str, style: str | None, text_a: list[str], text_b: list[str] | None,
) -> tuple[list[str], list[str] | None]:
    """The tokenizer's first and second inputs in this prompt style (None: the raw text)."""
    if style is None:
        return list(text_a), (list(text_b) if text_b is not None else None)
    templates = TEMPLATES[style]
    if task not in templates:
        raise RevmuxError(f"no prompt template for task {task!r}")
    seconds = text_b if text_b is not None else [None] * len(text_a)
    return [templates[task].format(a=a, b=b) for a, b in zip(text_a, seconds)], None


def label_token_ids(tokenizer, task: str, prefix: str) -> list[int]:
    """The first token of each label word, as the model would produce it after the prompt (`prefix` before it)."""
    ids = [tokenizer(prefix + word, add_special_tokens=False)["input_ids"][0] for word in LABEL_WORDS[task]]
    if len(set(ids)) != len(ids):
        raise RevmuxError(f"label words {LABEL_WORDS[task]} of task {task} share a first token in this tokenizer")
    return ids
