"""Post-training quantization of a frozen backbone, by scheme name: what a user would deploy instead of (or
together with) multiplexing. A scheme applies to any trained model of the multiplexing track at evaluation
and timing time (`<method>+<scheme>`, e.g. `identity+int8` is the quantized teacher, `revmux+int8` RevMUX on
the quantized backbone); nothing is ever trained on a quantized backbone.

- int8: torch's dynamic quantization of every nn.Linear of the backbone (int8 weights, activations
  quantized per call); CPU only (its kernels are fbgemm/x86 and qnnpack).
- bfloat16, float16: the backbone cast to the half-precision dtype; GPU only here, since CPUs lack fast
  half-precision matrix products for much of the model.

The head and the multiplexer stay float32, as they do for every backbone dtype. This module's import needs
no torch: the workflow checks scheme names and devices before any job. Adding a scheme is one entry in
SCHEMES and one branch in `quantize`.
"""

from __future__ import annotations

from revmux.core.errors import RevmuxError

# scheme -> the device types it runs on
SCHEMES = {"int8": ("cpu",), "bfloat16": ("cuda",), "float16": ("cuda",)}
SEPARATOR = "+"


def check_scheme(scheme: str, device: str) -> None:
    """Refuse an unknown scheme, or one the device cannot run, with what to use instead."""
    if scheme not in SCHEMES:
        raise RevmuxError(f"unknown quantization {scheme!r}: use one of {', '.join(SCHEMES)}")
    device_type = device.split(":")[0]
    if device_type not in SCHEMES[scheme]:
        fitting = [name for name, devices in SCHEMES.items() if device_type in devices]
        raise RevmuxError(f"quantization {scheme} runs on {' or '.join(SCHEMES[scheme])} only, not on {device}: "
                          f"use {' or '.join(fitting) or 'no quantization'} on {device_type}")


def quantize(backbone, scheme: str) -> None:
    """Quantize the staged backbone's model in place (it must be frozen: quantized layers have no gradients)."""
    import torch

    check_scheme(scheme, str(backbone.device))
    backbone.model.requires_grad_(False)
    backbone.model.eval()
    if scheme == "int8":
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            # torch marks its eager quantization API as moving to torchao; it is the API this harness pins and tests.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*(deprecated|torchao).*")
            quantize_dynamic(backbone.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        backbone.quantization = scheme
        return
    backbone.model.to(getattr(torch, scheme))
    backbone.quantization = scheme
