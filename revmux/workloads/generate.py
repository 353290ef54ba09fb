"""Seeded workloads from real text: prompts of widely spread lengths, output lengths from a wide range,
and arrival processes.

Prompts, output lengths and arrival gaps come from separate seeded streams, so the traces of one seed at
different rates hold the same requests and differ only in when they arrive (gaps scale with 1 / rate):
a load sweep changes the load and nothing else.
"""

from __future__ import annotations

import numpy as np

from revmux.core.errors import RevmuxError
from revmux.workloads.traces import Request

ARRIVALS = ("poisson", "offline")  # closed-loop runs replay an offline trace at a fixed concurrency


def log_uniform_lengths(rng: np.random.Generator, low: int, high: int, count: int) -> np.ndarray:
    """Integers spread evenly on a log scale over [low, high]: as many short as long requests per octave."""
    if not 1 <= low <= high:
        raise RevmuxError(f"length range [{low}, {high}] must satisfy 1 <= low <= high")
    return np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1), count))).astype(int).clip(low, high)


def prompts_from_sentences(tokenize, sentences: list[str], lengths: np.ndarray, rng: np.random.Generator):
    """One prompt per target length: consecutive sentences from a seeded start, joined until the target
    is reached, then cut to exactly that many tokens. Returns (token id lists, texts)."""
    if not sentences:
        raise RevmuxError("no sentences to build prompts from")
    encoded = [tokenize(sentence) for sentence in sentences]
    prompts, texts = [], []
    for target in lengths:
        position = int(rng.integers(len(sentences)))
        ids, words = [], []
        while len(ids) < target:
            ids.extend(encoded[position])
            words.append(sentences[position])
            position = (position + 1) % len(sentences)
        prompts.append(ids[:target])
        texts.append(" ".join(words))
    return prompts, texts


def arrival_times(rng: np.random.Generator, kind: str, count: int, rate: float | None) -> np.ndarray:
    if kind == "offline":
        return np.zeros(count)
    if kind != "poisson":
        raise RevmuxError(f"unknown arrival process {kind!r}: use one of {', '.join(ARRIVALS)}")
    if rate is None or not rate > 0:
        raise RevmuxError(f"a Poisson trace needs a rate > 0 requests/s, got {rate!r}: pass --rate")
    return np.cumsum(rng.exponential(1.0, count)) / rate


def make_requests(tokenize, sentences: list[str], count: int, seed: int, arrivals: str = "offline",
                  rate: float | None = None, prompt_tokens: tuple[int, int] = (4, 200),
                  output_tokens: tuple[int, int] = (8, 256)) -> tuple[list[Request], list[str]]:
    if count < 1:
        raise RevmuxError(f"a trace needs at least one request, got {count}")
    prompt_lengths = log_uniform_lengths(np.random.default_rng([seed, 0]), *prompt_tokens, count)
    output_lengths = log_uniform_lengths(np.random.default_rng([seed, 1]), *output_tokens, count)
    prompts, texts = prompts_from_sentences(tokenize, sentences, prompt_lengths, np.random.default_rng([seed, 2]))
    times = arrival_times(np.random.default_rng([seed, 3]), arrivals, count, rate)
    requests = [Request(f"r{k:05d}", float(t), tuple(p), int(o))
                for k, (t, p, o) in enumerate(zip(times, prompts, output_lengths))]
    return requests, texts
