"""Reproducible wheels end to end: two builds of one commit in different folders, and rebuild-check.

A clean commit of this working tree (a fresh repository in a temporary
folder, so uncommitted changes here don't make the builds dirty) is built
twice with the host backend for the newest torch's CPU cell: from two
checkouts in different folders, with two build caches that share only the
torch venv (each has its own compile cache, so both compile cold), at
different times. The wheels must be the same bytes and carry no trace of
either folder. Then rebuild-check, given that wheel's URL on a served local
index, rebuilds it and reports identical; given a tampered copy, it reports
the member that differs and exits 1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT, free_port, wait_until_serving, wheel_matrix

from wheel_matrix.backends.options import default_cache
from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import Cell, cells
from wheel_matrix.wheel import build_info

pytestmark = pytest.mark.e2e

COMMIT_DATE = "1764000000 +0000"


def newest_cpu_cell() -> Cell:
    x86 = [c for c in cells(matrix_file.load()) if c.arch == "x86_64" and c.cuda is None]
    return max(x86, key=lambda c: tuple(map(int, c.torch.minor.split("."))))


CELL = newest_cpu_cell()


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "wheel-matrix tests", "GIT_AUTHOR_EMAIL": "tests@example.org",
        "GIT_COMMITTER_NAME": "wheel-matrix tests", "GIT_COMMITTER_EMAIL": "tests@example.org",
        "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE,
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@dataclass(frozen=True)
class Build:
    tree: Path
    cache: Path
    wheel: Path


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree as it is, committed in a repository of its own."""
    repo = tmp_path_factory.mktemp("repository")
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():  # deleted ones are listed too
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / rel)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the tree under test")
    return repo


def build_in(tree: Path, cache: Path, dist: Path) -> Path:
    # Only the venv (torch, gigabytes) is shared; the compile cache is this cache's own.
    shared = default_cache() / "venvs"
    shared.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True)
    (cache / "venvs").symlink_to(shared)
    # The tree's own service builds: `python -m` imports wheel_matrix from the cwd.
    wheel_matrix("build", "--backend", "host", "--cell", CELL.id, "--dist", str(dist),
                 "--cache", str(cache), cwd=tree)
    (wheel,) = sorted((dist / "wheels").glob("*.whl"))
    return wheel


@pytest.fixture(scope="module")
def builds(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "a" / "deeper" / "checkout"
    git(ROOT, "clone", "-q", str(repository), str(elsewhere))
    found = {}
    for name, tree in (("first", repository), ("second", elsewhere)):
        work = tmp_path_factory.mktemp(f"build-{name}")
        found[name] = Build(tree, work / "cache", build_in(tree, work / "cache", work / "dist"))
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_in_different_folders_are_the_same_bytes(
    builds: dict[str, Build], repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first, second = builds["first"].wheel, builds["second"].wheel
    assert first.name == second.name
    assert sha256(first) == sha256(second)
    info = build_info.read(first)
    assert info.commit == git(repository, "rev-parse", "HEAD")
    assert info.source_date_epoch == int(COMMIT_DATE.split()[0])
    assert not info.dirty and info.cell == CELL.id
    # Nothing of where it was built: no temporary folder, cache or checkout path.
    leaks = [str(tmp_path_factory.getbasetemp()), str(default_cache()), str(ROOT)]
    with zipfile.ZipFile(first) as archive:
        for item in archive.infolist():
            data = archive.read(item)
            for leak in leaks:
                assert leak.encode() not in data, f"{item.filename} holds {leak}"
            assert item.date_time == (2025, 11, 24, 16, 0, 0), item.filename


@pytest.fixture(scope="module")
def served(builds: dict[str, Build], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The first wheel's URL on a local index, served as `nox -s serve` does."""
    root = tmp_path_factory.mktemp("served")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    wheel_matrix("index", "--wheels", str(builds["first"].wheel.parent), "--out",
                 str(root / "index"), "--base-url", base)
    server = subprocess.Popen(
        [sys.executable, "-m", "wheel_matrix", "serve", "--root", str(root / "index"),
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(base, server)
        name = builds["first"].wheel.name
        (path,) = (p for p in (root / "index").rglob(name) if "pypi" not in p.parts)
        yield base + path.relative_to(root / "index").as_posix()
    finally:
        server.terminate()
        server.wait(timeout=10)


def rebuild_check(where: str, repository: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheel_matrix", "rebuild-check", where, "--repo", str(repository),
         "--cache", str(cache)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )


def test_rebuild_check_of_a_served_wheel_is_identical(
    served: str, builds: dict[str, Build], repository: Path
) -> None:
    # The second build's cache: its compile cache is warm, so this costs seconds.
    done = rebuild_check(served, repository, builds["second"].cache)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"identical: {builds['first'].wheel.name}"), done.stdout
    assert sha256(builds["first"].wheel) in done.stdout


def test_rebuild_check_names_the_member_that_differs(
    builds: dict[str, Build], repository: Path, tmp_path: Path
) -> None:
    original = builds["first"].wheel
    tampered = tmp_path / original.name
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "causal_conv1d/__init__.py":
                data += b"# changed after the build\n"
            dst.writestr(item, data)
    done = rebuild_check(str(tampered), repository, builds["second"].cache)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"differs: {original.name}"), done.stdout
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "causal_conv1d/__init__.py" in lines
    assert "tools in another version" not in done.stdout  # same machine, same tools
