"""Frozen backbones: which ones exist, where their weights come from, and how to load them."""

from revmux.backbones.registry import BackboneSpec, known_backbones, resolve_backbone
from revmux.backbones.load import LoadedBackbone, fetch_backbone, load_backbone, load_tokenizer

__all__ = [
    "BackboneSpec", "LoadedBackbone", "fetch_backbone", "known_backbones", "load_backbone", "load_tokenizer",
    "resolve_backbone",
]
