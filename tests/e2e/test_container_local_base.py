"""The container backend end to end, on a real Docker engine, with ``--local-base``.

The newest torch's CPU cell and its CUDA 13 cell are built in their rendered
images (bases made on this machine, compile with no network) and compared
with the host backend's builds of the same cells: the same bytes where the
image's tools are this machine's (a local base is Debian, like this CI
machine), else the same files but the compiled library; then one cell is
rebuilt from a clean tree through the compile cache's bind mount.

Needs an engine (DOCKER_HOST): without one these tests skip, unless
WHEEL_MATRIX_TESTS_REQUIRE_ENGINE=1, as .ci/run sets after starting one with
scripts/docker-engine.sh; there a missing engine fails the suite.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

import pytest
from support import wheel_matrix

from wheel_matrix.backends import engine
from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import Cell, cells
from wheel_matrix.wheel import build_info, reproducible

pytestmark = [pytest.mark.e2e, pytest.mark.container]


@pytest.fixture(scope="module", autouse=True)
def _engine() -> None:
    if engine.answers():
        return
    message = "no Docker engine answers (start one: scripts/docker-engine.sh start)"
    if os.environ.get("WHEEL_MATRIX_TESTS_REQUIRE_ENGINE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def newest_cells() -> dict[str, Cell]:
    """The newest torch's x86_64 CPU cell, and its CUDA cell with nvcc on PyPI."""
    x86 = [c for c in cells(matrix_file.load()) if c.arch == "x86_64"]
    newest = max(x86, key=lambda c: tuple(map(int, c.torch.minor.split(".")))).torch.minor
    mine = [c for c in x86 if c.torch.minor == newest]
    cpu = next(c for c in mine if c.cuda is None)
    cuda = min(
        (c for c in mine if c.cuda is not None and c.cuda.pypi_toolkit),
        key=lambda c: c.compute,
    )
    return {"cpu": cpu, "cuda": cuda}


CELLS = newest_cells()


def build(cell: Cell, dist: Path, *backend: str) -> tuple[Path, str]:
    done = wheel_matrix(
        "build", *backend, "--cell", cell.id, "--purpose", "test", "--dist", str(dist)
    )
    (wheel,) = sorted((dist / "wheels").glob("*.whl"))
    return wheel, done.stderr


@pytest.fixture(scope="module")
def container_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return {
        kind: build(cell, tmp_path_factory.mktemp(f"docker-{kind}"), "--backend", "docker",
                    "--local-base")
        for kind, cell in CELLS.items()
    }


def host_wheel(cell: Cell, built_wheel: Path, tmp: Path) -> Path:
    """The host backend's wheel of ``cell``: the suite's own if it is that cell's."""
    if f"+{cell.label}-" in built_wheel.name:
        return built_wheel
    return build(cell, tmp, "--backend", "host")[0]


def unplatformed(name: str) -> str:
    return re.sub(r"-(?:manylinux|linux)_\w+\.whl$", "", name)


def contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_container_wheel_matches_the_host_build(
    kind: str,
    container_builds: dict[str, tuple[Path, str]],
    built_wheel: Path,
    tmp_path: Path,
) -> None:
    cell = CELLS[kind]
    ours, log = container_builds[kind]
    # It compiled with no network, once (abi3), and was smoke-tested on two Pythons.
    assert "no network" in log
    assert log.count("testing wheel (") >= 2, log
    theirs = host_wheel(cell, built_wheel, tmp_path)
    assert unplatformed(ours.name) == unplatformed(theirs.name)
    mine, other = build_info.read(ours), build_info.read(theirs)
    assert dataclasses.replace(mine, toolchain=other.toolchain) == other
    if mine.toolchain == other.toolchain:
        # A local base is Debian with this machine's compiler, nvcc from the same PyPI
        # wheels: the same tools in another folder, so the very same bytes.
        assert ours.name == theirs.name
        assert ours.read_bytes() == theirs.read_bytes(), reproducible.differences(
            ours, theirs, ("container", "host")
        )
        return
    # Other tools (another distribution's compiler): the same files, other binaries.
    a, b = contents(ours), contents(theirs)
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith((".so", "/RECORD", "/build-info.json")):
            continue  # compiled by other tools; RECORD holds the .so's hashes
        if name.endswith("/WHEEL"):
            def tagless(text: bytes) -> list[bytes]:
                return [line for line in text.splitlines() if not line.startswith(b"Tag:")]

            assert tagless(a[name]) == tagless(b[name])
        else:
            assert a[name] == b[name], f"{name} differs between the container and host builds"


def test_rebuild_from_a_clean_tree_hits_the_compile_cache(
    container_builds: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    first, _ = container_builds["cpu"]
    wheel, log = build(CELLS["cpu"], tmp_path, "--backend", "docker", "--local-base")
    # The image and wheelhouse are reused; every compile is a cache hit.
    assert "reusing the existing image" in log
    found = re.search(r"compile \S+; ccache: (\d+) hits, (\d+) misses", log)
    assert found is not None, log
    hits, misses = map(int, found.groups())
    assert hits > 0 and misses == 0, found.group(0)
    assert wheel.name == first.name
