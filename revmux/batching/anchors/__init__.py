"""Anchors: transformers' own ways to serve the same trace, which no one here wrote. One module each,
registered by name beside the schedulers; each says what it is in `label`."""

from revmux.core.registry import Registry

ANCHORS = Registry("anchor", __name__)
