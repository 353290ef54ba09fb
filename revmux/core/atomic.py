"""Write files and directories so that a reader never sees a half-written result.

Everything is written next to its destination under a temporary name, then renamed into place:
a rename within one file system is atomic, so an interrupted job leaves either the old result or
the new one, never a mix.

tempfile makes the temporary file and folder private (0600 / 0700) whatever the umask; they are given the
permissions an ordinary open() or mkdir() would have given them under the umask, so that colleagues on a shared
project folder can read the results, the model cache and the caches as far as the user's umask allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

_PROC_STATUS = Path("/proc/self/status")


def current_umask() -> int:
    """The process's umask, left unchanged.

    os.umask can only read the mask by setting a new one, and the mask is process-global: between setting and
    restoring it, another thread creating a file would get the throwaway mask. Linux shows the mask in
    /proc/self/status, which reads it without that window; elsewhere the throwaway mask is the strictest, so a
    file created in the window is private rather than open.
    """
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permissions open() gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The permissions mkdir() gives a new folder under the current umask."""
    return 0o777 & ~current_umask()


def follow_umask(path: str | os.PathLike) -> None:
    """Give a file another library created the mode open() would have (safetensors writes 0600 whatever the umask)."""
    os.chmod(path, file_mode())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), file_mode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_svg(path: str | os.PathLike, figure) -> None:
    """A matplotlib figure as SVG, rendered in memory and then written atomically."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg")
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a scratch directory that replaces `path` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    try:
        scratch.chmod(folder_mode())
        yield scratch
        if path.exists():
            shutil.rmtree(path)
        os.replace(scratch, path)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
