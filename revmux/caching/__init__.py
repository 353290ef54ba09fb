"""The caching and model-selection track (Zhu et al., arXiv 2306.02003): a trace-driven simulator of answer
caches (LFU, LEC, GDSF, LRU, an oracle) in front of a small and a large model and a selector that picks
between them (always large, cascade, a selector of given accuracy, a bandit-learned one, a trained one)."""
