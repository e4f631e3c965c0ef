"""matrix.yaml parsing: the real file loads, and every kind of mistake is one clear line."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_repository_matrix_loads() -> None:
    matrix = matrix_file.load(ROOT / "matrix.yaml")
    # The package as pyproject.toml and causal_conv1d/__init__.py name it: one place each.
    assert matrix.project.name == "causal-conv1d"
    assert matrix.project.version == "1.7.0"
    assert matrix.test_arch == "9.0"
    # PyTorch's published support: 2.7 never shipped CUDA 13, 2.14 did.
    assert "13.0" not in matrix.torch["2.7"].cuda
    assert "13.0" in matrix.torch["2.14"].cuda
    assert {"2.6", "2.14"} <= set(matrix.torch)
    assert matrix.cuda["13.0"].pypi_toolkit
    assert not matrix.cuda["12.6"].pypi_toolkit


def test_objects_are_frozen(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    with pytest.raises(AttributeError):
        matrix.project.version = "2.0"  # type: ignore[misc]


def _error(data: object, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        matrix_file.parse(data, tmp_path / "matrix.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d.update(test_ach=d.pop("test_arch")),
            "matrix.yaml: test_ach: unknown key (did you mean 'test_arch'?)",
        ),
        (
            lambda d: d["torch"]["2.14"].update(pythn=["3.12"]),
            "torch.\"2.14\".pythn: unknown key (did you mean 'python'?)",
        ),
        (
            lambda d: d["torch"]["2.14"].update(version="2.13.0"),
            "torch.\"2.14\".version: '2.13.0' is not a 2.14 release",
        ),
        (
            lambda d: d["axes"].update(torch=["2.13", 2.1]),
            "axes.torch[1]: 2.1 is a number; quote versions",
        ),
        (
            lambda d: d["axes"].update(compute=["cpu", "13.1"]),
            "axes.compute[1]: CUDA 13.1 has no entry under 'cuda' (did you mean '13.0'?)",
        ),
        (
            lambda d: d["axes"].update(arch=["x86-64"]),
            "axes.arch[0]: 'x86-64' is not one of x86_64, aarch64 (did you mean 'x86_64'?)",
        ),
        (
            lambda d: d["cuda"]["13.0"].update(toolkit="12.6.3"),
            "cuda.\"13.0\".toolkit: '12.6.3' is not a CUDA 13.0 toolkit",
        ),
        (
            lambda d: d["cuda"]["13.0"].update(pypi_toolkit="yes"),
            "cuda.\"13.0\".pypi_toolkit: expected true or false, got str 'yes'",
        ),
        (
            lambda d: d["exclude"].append({"torch": "2.15"}),
            "exclude[1].torch: unknown torch '2.15'",
        ),
        (lambda d: d["exclude"].append({}), "exclude[1]: an empty rule would match every cell"),
        (
            # The label is a fixed contract (plan/label.py), not a setting.
            lambda d: d.update(label="v{torch}"),
            "matrix.yaml: label: unknown key",
        ),
        (lambda d: d.update(test_arch="sm_90"), "test_arch: 'sm_90' is not a GPU arch such as 9.0"),
        (lambda d: d.pop("cuda"), "matrix.yaml: missing required key 'cuda'"),
        (
            lambda d: d["torch"]["2.14"].update(cuda=["12.6", "12.9", "13.0"]),
            "torch.\"2.14\".cuda[1]: CUDA 12.9 has no entry under 'cuda'",
        ),
    ],
)
def test_bad_matrix_is_one_clear_error(
    edit: Any, expected: str, small_matrix_path: Path, tmp_path: Path
) -> None:
    data = copy.deepcopy(_data(small_matrix_path))
    edit(data)
    message = _error(data, tmp_path)
    assert expected in message
    assert "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "matrix.yaml"
    bad.write_text("package:\n  name: x\n  version: [1\n")
    with pytest.raises(ConfigError, match=r"matrix.yaml: line \d+: invalid YAML"):
        matrix_file.load(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        matrix_file.load(tmp_path / "nope.yaml")


def test_cli_reports_bad_matrix_in_one_line_with_exit_2(
    small_matrix_path: Path, tmp_path: Path
) -> None:
    data = _data(small_matrix_path)
    data["axes"]["compute"] = ["cpu", "13.1"]
    bad = tmp_path / "matrix.yaml"
    bad.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, "-m", "wheel_matrix", "cells", "--matrix", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: axes.compute[1]: CUDA 13.1 has no entry under 'cuda' (did you mean '13.0'?)"
    ]
    assert "Traceback" not in done.stderr
