"""The decided plan: one BuildSpec per cell, one function for the arch list, one jobs policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import find_cell
from wheel_matrix.plan.decisions import BuildSpec, arch_list, decide, jobs, repair_argv

TORCH_INDEX = "https://download.pytorch.org/whl/{compute}"


def spec_of(small_matrix_path: Path, cell_id: str) -> BuildSpec:
    matrix = matrix_file.load(small_matrix_path)
    return decide(find_cell(matrix, cell_id), TORCH_INDEX, matrix.test_arch)


def test_cuda_cell(small_matrix_path: Path) -> None:
    spec = spec_of(small_matrix_path, "torch2.14-cu130")
    assert dict(spec.env) == {
        "CAUSAL_CONV1D_LOCAL_VERSION": "cu130torch2.14",
        "CAUSAL_CONV1D_TORCH": "2.14",
        "CAUSAL_CONV1D_COMPUTE": "cu130",
        "CAUSAL_CONV1D_PY_LIMITED_API": "cp310",
        "CAUSAL_CONV1D_REPRODUCIBLE": "TRUE",
    }
    # PyPI's torch 2.14 is the CUDA 13.0 build: no extra index.
    assert spec.torch_install == ("torch==2.14.1",)
    assert dict(spec.arch_lists) == {
        "release": "9.0;10.0+PTX",
        "pull-request": "9.0",
        "test": "9.0",
    }


def test_cpu_cell_skips_cuda(small_matrix_path: Path) -> None:
    spec = spec_of(small_matrix_path, "torch2.13-cpu")
    assert spec.env["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] == "TRUE"
    assert spec.env["CAUSAL_CONV1D_COMPUTE"] == "cpu"
    assert set(spec.arch_lists.values()) == {""}


def test_torch_missing_from_pypi_comes_from_the_torch_index(small_matrix_path: Path) -> None:
    assert spec_of(small_matrix_path, "torch2.14-cu126").torch_install == (
        "torch==2.14.1",
        "--extra-index-url",
        "https://download.pytorch.org/whl/cu126",
    )


def test_arch_list_override_order(
    small_matrix_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_of(small_matrix_path, "torch2.14-cu130")
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    assert arch_list(spec) == "9.0;10.0+PTX"
    assert arch_list(spec, "test") == "9.0"
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.6")
    assert arch_list(spec, "release") == "8.6"  # the environment beats the purpose
    assert arch_list(spec, "release", "8.0") == "8.0"  # and the flag beats both
    assert arch_list(spec_of(small_matrix_path, "torch2.13-cpu"), "release", "8.0") == ""


def test_jobs_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_JOBS", raising=False)
    assert 1 <= jobs(cuda=True) <= jobs(cuda=False)
    monkeypatch.setenv("MAX_JOBS", "5")
    assert jobs(cuda=True) == 5
    assert jobs(cuda=True, override=2) == 2


def test_repair_leaves_torch_and_cuda_out(small_matrix_path: Path) -> None:
    argv = repair_argv(spec_of(small_matrix_path, "torch2.14-cu130"), "py", "w.whl", "out")
    assert argv[:6] == ["py", "-m", "auditwheel", "repair", "-w", "out"]
    assert argv[-1] == "w.whl"
    assert {"libtorch*.so*", "libcudart.so*", "libgomp*.so*"} <= set(argv)
