"""rebuild-check refuses what it can't rebuild: one line, exit code 2, nothing left behind.

Each case fails before a build starts (so these are unit tests); the
rebuilds themselves are in tests/e2e/test_reproducible_builds.py.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from test_reproducible import EPOCH, INFO, git

from wheel_matrix.cli import main
from wheel_matrix.wheel.build_info import BuildInfo
from wheel_matrix.wheel.make import make_wheel

ROOT = Path(__file__).resolve().parents[2]
TAG = "cp311-abi3-manylinux_2_35_x86_64"


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the check's scratch folders go: it must be empty again afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout holding this project's matrix.yaml, committed."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "matrix.yaml", root / "matrix.yaml")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "matrix")
    return root


def wheel_with(folder: Path, info: BuildInfo | None, version: str = "1.7.0+cputorch2.15") -> Path:
    files = {"causal_conv1d/__init__.py": b""}
    if info is not None:
        files[f"causal_conv1d-{version}.dist-info/build-info.json"] = info.to_json()
    return make_wheel(folder, "causal-conv1d", version, files=files, tag=TAG)


def check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["rebuild-check", *argv])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def commit_of(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


Case = Callable[[Path, Path], list[str]]


def missing_file(tmp: Path, repo: Path) -> list[str]:
    return [str(tmp / "nowhere.whl")]


def a_folder(tmp: Path, repo: Path) -> list[str]:
    return [str(tmp)]


def not_a_wheel(tmp: Path, repo: Path) -> list[str]:
    path = tmp / "causal_conv1d-1.7.0+cputorch2.15-cp311-abi3-manylinux_2_35_x86_64.whl"
    path.write_text("not a zip\n")
    return [str(path)]


def not_named_a_wheel(tmp: Path, repo: Path) -> list[str]:
    path = tmp / "notes.txt"
    path.write_text("hello\n")
    return [str(path)]


def no_build_info(tmp: Path, repo: Path) -> list[str]:
    return [str(wheel_with(tmp, None)), "--repo", str(repo)]


def no_commit(tmp: Path, repo: Path) -> list[str]:
    return [str(wheel_with(tmp, dataclasses.replace(INFO, commit=None))), "--repo", str(repo)]


def dirty(tmp: Path, repo: Path) -> list[str]:
    info = dataclasses.replace(INFO, commit=commit_of(repo), dirty=True)
    return [str(wheel_with(tmp, info)), "--repo", str(repo)]


def commit_not_in_repo(tmp: Path, repo: Path) -> list[str]:
    return [str(wheel_with(tmp, dataclasses.replace(INFO, commit="0" * 40))), "--repo", str(repo)]


def repo_not_a_checkout(tmp: Path, repo: Path) -> list[str]:
    plain = tmp / "plain"
    plain.mkdir()
    info = dataclasses.replace(INFO, commit=commit_of(repo))
    return [str(wheel_with(tmp, info)), "--repo", str(plain)]


def unknown_cell(tmp: Path, repo: Path) -> list[str]:
    info = dataclasses.replace(INFO, commit=commit_of(repo), cell="torch9.99-cpu-x86_64")
    return [str(wheel_with(tmp, info, "1.7.0+cputorch9.99")), "--repo", str(repo)]


def label_disagrees(tmp: Path, repo: Path) -> list[str]:
    info = dataclasses.replace(INFO, commit=commit_of(repo), cell="torch2.14-cpu-x86_64")
    return [str(wheel_with(tmp, info)), "--repo", str(repo)]


def bad_build_info(tmp: Path, repo: Path) -> list[str]:
    wheel = wheel_with(tmp, INFO)
    with zipfile.ZipFile(wheel, "a") as archive:  # a second, garbled copy is refused too
        archive.writestr("causal_conv1d-1.7.0+cputorch2.15.dist-info/x", b"")
    broken = tmp / "broken" / wheel.name
    broken.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("build-info.json"):
                data = b'{"format": 1, "cell": "torch2.15-cpu-x86_64"}'
            dst.writestr(item, data)
    return [str(broken), "--repo", str(repo)]


def unreachable_url(tmp: Path, repo: Path) -> list[str]:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [f"http://127.0.0.1:{port}/causal_conv1d-1.7.0+cputorch2.15-{TAG}.whl"]


def url_not_a_wheel(tmp: Path, repo: Path) -> list[str]:
    return ["http://127.0.0.1:9/simple/causal-conv1d/"]


def local_base_on_the_host(tmp: Path, repo: Path) -> list[str]:
    return [str(wheel_with(tmp, INFO)), "--local-base"]


def cache_not_a_folder(tmp: Path, repo: Path) -> list[str]:
    (tmp / "file").write_text("")
    return [str(wheel_with(tmp, INFO)), "--cache", str(tmp / "file" / "cache")]


CASES: dict[str, tuple[Case, str]] = {
    "missing file": (missing_file, "does not exist"),
    "a folder": (a_folder, "is not a file"),
    "not a zip": (not_a_wheel, "not a readable wheel (zip) file"),
    "not named .whl": (not_named_a_wheel, "not a wheel"),
    "no build info": (no_build_info, "carries no build information"),
    "bad build info": (bad_build_info, "lacks its source or toolchain"),
    "no commit": (no_commit, "records no commit"),
    "dirty build": (dirty, "is a dirty build"),
    "commit not in the repo": (commit_not_in_repo, "is not in"),
    "repo not a checkout": (repo_not_a_checkout, "is not a git checkout"),
    "unknown cell": (unknown_cell, "unknown cell"),
    "label disagrees": (label_disagrees, "its build information says cell"),
    "unreachable URL": (unreachable_url, "cannot download"),
    "URL of no wheel": (url_not_a_wheel, "does not name a wheel"),
    "--local-base on the host": (local_base_on_the_host, "is for the container backend"),
    "--cache not a folder": (cache_not_a_folder, "not a folder"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_in_one_line(
    name: str,
    tmp_path: Path,
    repo: Path,
    scratch_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, fault = CASES[name]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    code, err = check(make(inputs, repo), capsys)
    assert code == 2, err
    # Progress lines may come first (a download, a checkout); the error is one line, last.
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [err.splitlines()[-1]], err
    assert fault in errors[0], err
    assert "Traceback" not in err
    # Nothing half-written: no scratch folder, no checkout, no download remains.
    assert list(scratch_root.iterdir()) == []
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "worktree", "list").count("\n") == 0


def test_help_names_the_command() -> None:
    done = subprocess.run(
        ["python3", "-m", "wheel_matrix", "rebuild-check", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0 and "WHEEL_OR_URL" in done.stdout


def test_the_epoch_of_the_fixture_commit(repo: Path) -> None:
    assert git(repo, "log", "-1", "--format=%ct") == str(EPOCH)
