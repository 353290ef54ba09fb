"""Schedulers, one module each, registered by name: adding one is adding a file here."""

from revmux.core.registry import Registry

SCHEDULERS = Registry("scheduler", __name__)
