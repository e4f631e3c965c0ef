"""The planner: which cells exist, their names, and lookups by id."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import ConfigError, UserError
from wheel_matrix.plan import cells, find_cell

ROOT = Path(__file__).resolve().parents[2]


def test_small_matrix_cells(small_matrix_path: Path) -> None:
    ids = [c.id for c in cells(matrix_file.load(small_matrix_path))]
    # Newest torch first, newest CUDA first, CPU last; the exclude drops 2.13/12.6
    # and the include adds an aarch64 cell outside the axes.
    assert ids == [
        "torch2.14-cu130-x86_64",
        "torch2.14-cu130-aarch64",
        "torch2.14-cu126-x86_64",
        "torch2.14-cpu-x86_64",
        "torch2.13-cu130-x86_64",
        "torch2.13-cpu-x86_64",
    ]


def test_cell_naming(small_matrix_path: Path) -> None:
    cell = find_cell(matrix_file.load(small_matrix_path), "torch2.14-cu130")
    assert cell.version == "1.7.0+cu130torch2.14"
    assert str(cell.label) == "cu130torch2.14"
    assert cell.compute == "cu130"
    assert cell.torch_requirement == "torch==2.14.*"
    assert cell.pythons == ("3.10", "3.12")
    assert cell.abi3_tag == "cp310"
    assert cell.pypi_build  # PyPI's torch 2.14 is the CUDA 13.0 build
    cpu = find_cell(matrix_file.load(small_matrix_path), "torch2.13-cpu-x86_64")
    assert cpu.version == "1.7.0+cputorch2.13"
    assert cpu.label.channel == "cpu"
    assert not cpu.pypi_build


def test_python_axis_respects_torch_support(tmp_path: Path, small_matrix_path: Path) -> None:
    data = yaml.safe_load(small_matrix_path.read_text())
    data["axes"]["python"] = ["3.9", "3.12", "3.13"]
    data["exclude"].append({"python": "3.13", "compute": "cpu"})
    matrix = matrix_file.parse(data, tmp_path / "m.yaml")
    by_id = {c.id: c for c in cells(matrix)}
    assert by_id["torch2.14-cu130-x86_64"].pythons == ("3.12", "3.13")  # 3.9 unsupported
    assert by_id["torch2.14-cpu-x86_64"].pythons == ("3.12",)  # excluded per Python


@pytest.mark.parametrize(
    ("cell_id", "message"),
    [
        ("torch2.14-cu999", "no compute platform 'cu999'"),
        ("torch2.99-cpu", "matrix.yaml has no torch 2.99"),
        ("torch2.13-cu126", "left out by matrix.yaml's axes or exclude rules"),
        ("cu130", "bad cell id 'cu130'"),
    ],
)
def test_find_cell_errors(small_matrix_path: Path, cell_id: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        find_cell(matrix_file.load(small_matrix_path), cell_id)


def test_unsupported_combination_is_named() -> None:
    matrix = matrix_file.load(ROOT / "matrix.yaml")
    with pytest.raises(
        UserError,
        match=r"torch 2.7 has no CUDA 13.0 build \(it supports CUDA "
        r"11.8, 12.6, 12.8\)",
    ):
        find_cell(matrix, "torch2.7-cu130")


def test_include_of_unsupported_cell_is_a_config_error(
    small_matrix_path: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(small_matrix_path.read_text())
    data["torch"]["2.13"]["cuda"] = ["12.6"]
    data["torch"]["2.13"]["pypi_cuda"] = "12.6"
    data["include"] = [{"torch": "2.13", "compute": "13.0"}]
    matrix = matrix_file.parse(data, tmp_path / "m.yaml")
    with pytest.raises(
        ConfigError, match=r"m.yaml: include\[0\]: torch 2.13 has no CUDA 13.0 build"
    ):
        cells(matrix)


def test_release_matrix_fits_one_github_run() -> None:
    # GitHub caps a workflow run at 256 jobs; one job per cell.
    assert 0 < len(cells(matrix_file.load(ROOT / "matrix.yaml"))) <= 256
