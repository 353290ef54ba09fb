"""Frozen backbones: which ones exist (registry, torch-free), how to load them (load), and the model cut
into the stages multiplexing runs separately (stages). The only package that branches on model family."""

from revmux.backbones.registry import BackboneSpec, known_backbones, resolve_backbone

__all__ = ["BackboneSpec", "known_backbones", "resolve_backbone"]
