"""`sync-torch` against real indexes: PyPI itself, and a registry on 127.0.0.1 with a newer torch.

PyPI serves torch without PEP 658 metadata, so reading it exercises the range
requests into each wheel's zip directory; the local registry (pypiserver)
holds a fake torch 2.16.0 and 2.15.1 whose only content is their metadata.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import pypi_server

from wheel_matrix.configuration import matrix_file
from wheel_matrix.configuration.sync import PYPI, read_releases
from wheel_matrix.plan import cells
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("docker", "cibuildwheel", ".github/workflows")
CUDA_133 = 'cuda-toolkit[cublas,cudart,nvrtc]==13.3.1; platform_system == "Linux"'


def test_reads_torch_2_15_from_pypi() -> None:
    by_version = {r.version: r for r in read_releases(PYPI, "2.14")}
    release = by_version["2.15.0"]
    assert release.cuda == "13.2" and release.toolkit == "13.2.2"
    assert release.pythons == ("3.11", "3.12", "3.13", "3.14", "3.15")  # no free-threaded
    assert release.requires_python == ">=3.11" and release.manylinux == "2_28"
    assert by_version["2.14.1"].cuda == "13.0"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pypiserver on 127.0.0.1 holding fake torch wheels (metadata only)."""
    packages = tmp_path_factory.mktemp("packages")
    for version, pythons, cuda in (
        ("2.16.0", ("311", "312", "313", "314", "314t"), CUDA_133),
        ("2.15.1", ("311", "312"), 'cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"'),
    ):
        for py in pythons:
            abi = f"cp{py}"
            for platform in ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64"):
                make_wheel(
                    packages,
                    "torch",
                    version,
                    requires_python=">=3.11",
                    requires_dist=["filelock", cuda],
                    tag=f"cp{py.rstrip('t')}-{abi}-{platform}",
                )
    with pypi_server(packages) as base:
        yield f"{base}/simple/"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheel_matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_sync_adds_a_new_torch_and_renders_it(registry: str, tmp_path: Path) -> None:
    matrix, root = tmp_path / "matrix.yaml", tmp_path / "repo"
    shutil.copy(ROOT / "matrix.yaml", matrix)
    for folder in GENERATED:
        shutil.copytree(ROOT / folder, root / folder)
    builds = tmp_path / "pytorch-builds.yaml"
    builds.write_text('"2.16": ["13.2", "13.3"]\n')
    common = ["--matrix", str(matrix), "--index-url", registry, "--builds", str(builds)]

    check = _cli("sync-torch", *common, "--check")
    assert check.returncode == 1, check.stderr
    assert "torch 2.15: version 2.15.0 -> 2.15.1" in check.stderr
    assert "torch 2.16: new, 2.16.0 (Python 3.11, 3.12, 3.13, 3.14; CUDA 13.2, 13.3;" in (
        check.stderr
    )
    assert matrix.read_text() == (ROOT / "matrix.yaml").read_text()  # --check wrote nothing

    done = _cli("sync-torch", *common, "--root", str(root))
    assert done.returncode == 0, done.stderr
    text = matrix.read_text()
    # Comments and order are kept; the new minor sits under torch:, before the cuda: notes.
    assert text.startswith((ROOT / "matrix.yaml").read_text().split("axes:")[0])
    assert text.index('"2.16":') < text.index("# Per-CUDA settings.") < text.index('"13.3":')
    synced = matrix_file.load(matrix)
    assert synced.axes.torch[-1] == "2.16" and synced.axes.compute[-1] == "13.3"
    assert synced.torch["2.15"].version == "2.15.1"
    assert synced.cuda["13.3"].toolkit == "13.3.1"
    assert synced.cuda["13.3"].image == "nvidia/cuda:13.3.1-devel-rockylinux8"
    ids = {c.id for c in cells(synced)}
    assert {"torch2.16-cu133-x86_64", "torch2.16-cu132-x86_64", "torch2.16-cpu-aarch64"} <= ids
    assert (root / "cibuildwheel" / "torch2.16-cu133-x86_64.toml").is_file()
    assert (root / "docker" / "cu133.Dockerfile").is_file()

    drift = _cli("render", "--check", "--matrix", str(matrix), "--root", str(root))
    assert drift.returncode == 0, drift.stderr
    again = _cli("sync-torch", *common, "--check")
    assert again.returncode == 0 and "is up to date" in again.stderr
