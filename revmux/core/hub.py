"""Whether the Hugging Face hub can be reached, answered in seconds rather than after retries."""

from __future__ import annotations

import functools
import socket
from urllib.parse import urlparse

import huggingface_hub
from huggingface_hub import constants as hf_constants


def hub_offline_mode() -> bool:
    """True if the user asked Hugging Face libraries to use their local cache only (HF_HUB_OFFLINE), as
    huggingface_hub itself decides it."""
    return huggingface_hub.is_offline_mode()


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """True if a TCP connection to the hub endpoint opens; False offline or with HF_HUB_OFFLINE set."""
    if hub_offline_mode():
        return False
    endpoint = urlparse(hf_constants.ENDPOINT)  # HF_ENDPOINT or the public hub
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def hub_unreachable_hint() -> str:
    return "The Hugging Face hub is not reachable from this machine (or HF_HUB_OFFLINE is set)."
