"""Which cells this machine can build, and the default one."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheel_matrix.backends.machine import Host, InstalledTorch, default_cell, unbuildable_reason
from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import UserError
from wheel_matrix.plan import find_cell

ROOT = Path(__file__).resolve().parents[2]
BARE = Host(arch="x86_64", torch=None, system_cuda=())


def test_default_is_newest_buildable_cell(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    # PyPI's torch 2.14 is a CUDA 13.0 build and nvcc 13 comes from PyPI: no system CUDA needed.
    assert default_cell(matrix, BARE).id == "torch2.14-cu130-x86_64"


def test_installed_torch_wins() -> None:
    matrix = matrix_file.load(ROOT / "matrix.yaml")
    cpu = Host(arch="x86_64", torch=InstalledTorch("2.13", None), system_cuda=())
    assert default_cell(matrix, cpu).id == "torch2.13-cpu-x86_64"
    cuda = Host(arch="x86_64", torch=InstalledTorch("2.8", "12.8"), system_cuda=())
    assert default_cell(matrix, cuda).id == "torch2.8-cu128-x86_64"


def test_installed_torch_outside_matrix_falls_back(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    old = Host(arch="x86_64", torch=InstalledTorch("1.13", "11.7"), system_cuda=())
    assert default_cell(matrix, old).id == "torch2.14-cu130-x86_64"


def test_aarch64_default(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    arm = Host(arch="aarch64", torch=None, system_cuda=())
    assert default_cell(matrix, arm).id == "torch2.14-cu130-aarch64"


def test_reasons() -> None:
    matrix = matrix_file.load(ROOT / "matrix.yaml")
    assert unbuildable_reason(find_cell(matrix, "torch2.14-cu130"), BARE) is None
    assert unbuildable_reason(find_cell(matrix, "torch2.6-cpu"), BARE) is None
    assert "not on PyPI" in (unbuildable_reason(find_cell(matrix, "torch2.14-cu126"), BARE) or "")
    assert "aarch64 machine" in (
        unbuildable_reason(find_cell(matrix, "torch2.14-cu130-aarch64"), BARE) or ""
    )
    # A 12.x cell whose torch is on PyPI still needs a local nvcc of that version.
    cu128 = find_cell(matrix, "torch2.8-cu128")
    assert "needs nvcc 12.8" in (unbuildable_reason(cu128, BARE) or "")
    with_nvcc = Host(arch="x86_64", torch=None, system_cuda=("12.8",))
    assert unbuildable_reason(cu128, with_nvcc) is None


def test_nothing_buildable(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    with pytest.raises(UserError, match=r"no cell of .* can be built on this riscv64 machine"):
        default_cell(matrix, Host(arch="riscv64", torch=None, system_cuda=()))
