"""RevMUX reproducibility harness: data multiplexing with reversible adapters on frozen backbones."""

__version__ = "0.1.0"
