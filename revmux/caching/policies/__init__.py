"""Cache policies, one module each, registered by name: adding one is adding a file here."""

from revmux.core.registry import Registry

POLICIES = Registry("cache policy", __name__, defaults={"static": True, "dynamic": True, "hindsight": False, "tracks_hits": False})
