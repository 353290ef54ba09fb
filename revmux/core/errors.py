"""The one exception type that reaches users: its message names the problem and the fix."""


class RevmuxError(Exception):
    """An error caused by input (config, data, model path, cache) that the user can fix."""


def check_device(device: str) -> None:
    """Refuse a device this machine does not have, before any work."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RevmuxError(f"device {device!r} was asked for but no CUDA GPU is visible: run on a GPU node or use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise RevmuxError(f"unknown device {device!r}: use cpu or cuda (or cuda:INDEX)")
