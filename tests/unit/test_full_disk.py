"""A full disk and a read-only file system: one line, nothing half-written left to fill the disk.

Real small file systems (tmpfs mounts of 1 MiB), so they need root; without it
these tests skip.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheel_matrix.cli import environment_problem, main
from wheel_matrix.index import build_index, journal
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel
from wheel_matrix.wheel.store import store_wheel


def _mount(target: Path, options: str) -> Iterator[Path]:
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "disk", "size=1m")


def big_wheel(folder: Path, version: str) -> Path:
    """A wheel of about 2 MiB that no compression shrinks: it cannot fit on ``small_disk``."""
    files = {"causal_conv1d/blob.bin": os.urandom(2 << 20)}
    return make_wheel(folder, "causal-conv1d", version, files=files)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_publish_onto_a_full_disk(
    tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = small_disk / "index"
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], index)
    before = snapshot(index)
    store = tmp_path / "new"
    big_wheel(store, "1.7.1+cu130torch2.14")
    start = time.monotonic()
    code = main(["index", "--wheels", str(store), "--out", str(index)])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - start < 10
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "No space left on device" in line and "the index is unchanged" in line
    # The staging is gone (the disk is free again), the index as it was, and valid.
    assert sorted(os.listdir(small_disk)) == ["index"]
    assert snapshot(index) == before
    assert verify_index(str(index)).ok
    free = os.statvfs(small_disk)
    assert free.f_bavail * free.f_frsize > 512 << 10


def test_the_wheel_store_on_a_full_disk(tmp_path: Path, small_disk: Path) -> None:
    wheel = big_wheel(tmp_path / "built", "1.7.1+cu130torch2.14")
    with pytest.raises(OSError) as info:
        store_wheel(wheel, small_disk / "wheels", time.monotonic())
    assert info.value.errno == errno.ENOSPC
    assert os.listdir(small_disk / "wheels") == []  # no hidden half-copy
    problem = environment_problem(info.value)
    assert problem is not None and problem.endswith("No space left on device")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "ro", "size=1m,ro")


@pytest.mark.parametrize("command", ["index", "pages"])
def test_a_read_only_file_system(
    tmp_path: Path, read_only_disk: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    index = tmp_path / "index"
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], index)
    argv = {
        "index": ["index", "--wheels", str(tmp_path / "w"), "--out", str(read_only_disk / "i")],
        "pages": ["publish", "--root", str(index), "--to", f"pages:{read_only_disk}"],
    }[command]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and line.endswith("Read-only file system"), line


def test_yank_on_a_read_only_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], index)
    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(index), str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
    try:
        code = main(["yank", "1.7.0", "--root", str(mount)])
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: cannot take the lock {mount / journal.LOCK}: Read-only file system"
    ]


def test_staging_is_dropped_when_staging_fails(tmp_path: Path, small_disk: Path) -> None:
    from wheel_matrix.errors import UserError
    from wheel_matrix.index.journal import Write

    root = small_disk / "root"
    with journal.locked(root, create=True), pytest.raises(UserError, match="No space left"):
        journal.commit(root, [Write("a.bin", os.urandom(2 << 20))])
    assert not journal.staging_path(root).exists()
