"""sync-torch's decisions (pure) and its edit of matrix.yaml (comments and order kept)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wheel_matrix.configuration import matrix_file
from wheel_matrix.configuration.sync import (
    UpstreamRelease,
    apply_sync,
    cuda_of,
    load_builds,
    plan_sync,
)
from wheel_matrix.errors import ConfigError, UserError


def release(version: str, cuda: str | None = "13.0", toolkit: str | None = None) -> UpstreamRelease:
    return UpstreamRelease(
        version=version,
        requires_python=">=3.10",
        pythons=("3.10", "3.11", "3.12", "3.13"),
        cuda=cuda,
        toolkit=toolkit,
        manylinux="2_28",
    )


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (['cuda-toolkit[cublas,cudart]==13.2.2; platform_system == "Linux"'], ("13.2", "13.2.2")),
        (['nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux"'], ("12.8", None)),
        (["nvidia-cuda-runtime==13.0.96"], ("13.0", None)),
        (["filelock", "sympy>=1.13.3", 'triton==3.9.0; platform_system == "Linux"'], (None, None)),
        (["not a requirement !!"], (None, None)),
    ],
)
def test_cuda_of_reads_the_pins(requires: list[str], expected: tuple[str | None, ...]) -> None:
    assert cuda_of(requires) == expected


def test_known_minor_gets_the_index_facts(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    changed = UpstreamRelease("2.14.2", ">=3.10", ("3.10", "3.11", "3.12"), "13.0", None, "2_28")
    plan = plan_sync(matrix, [release("2.13.0"), changed], {})
    assert plan.describe() == [
        "torch 2.14: version 2.14.1 -> 2.14.2",
        "torch 2.14: python [3.10, 3.11, 3.12, 3.13] -> [3.10, 3.11, 3.12]",
    ]
    assert not plan.new and not plan.warnings


def test_new_minor_takes_its_cuda_list_from_the_builds_file(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    plan = plan_sync(matrix, [release("2.15.0")], {"2.15": ["12.6", "13.0", "12.9"]})
    ((new, cuda),) = plan.new
    assert new.minor == "2.15" and cuda == ("12.6", "13.0")
    assert plan.warnings == [
        "torch 2.15: CUDA 12.9 (pytorch-builds.yaml) has no cuda: entry in matrix-small.yaml; "
        "left out"
    ]


def test_new_minor_without_builds_entry_gets_its_pypi_cuda(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    plan = plan_sync(matrix, [release("2.15.0")], {})
    assert plan.new[0][1] == ("13.0",)
    assert "pytorch-builds.yaml doesn't say which CUDA versions" in plan.warnings[0]


def test_new_cuda_version_is_patterned_on_its_major(small_matrix_path: Path) -> None:
    matrix = matrix_file.load(small_matrix_path)
    plan = plan_sync(matrix, [release("2.15.0", cuda="13.3", toolkit="13.3.1")], {})
    (cuda,) = plan.cuda
    assert (cuda.version, cuda.toolkit, cuda.image) == (
        "13.3",
        "13.3.1",
        "nvidia/cuda:13.3.1-devel-rockylinux8",
    )
    assert (cuda.arch_list, cuda.pypi_toolkit) == ("9.0;10.0+PTX", True)
    with pytest.raises(UserError, match=r"no CUDA 14\.x entry to pattern it on"):
        plan_sync(matrix, [release("2.15.0", cuda="14.0")], {})


def test_a_dropped_minor_stays_dropped(small_matrix_path: Path) -> None:
    plan = plan_sync(matrix_file.load(small_matrix_path), [release("2.12.1")], {})
    assert not plan.changed


def test_apply_keeps_comments_and_order(small_matrix_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    shutil.copy(small_matrix_path, path)
    before = path.read_text()
    matrix = matrix_file.load(path)
    plan = plan_sync(
        matrix,
        [release("2.14.2"), release("2.15.0", cuda="13.3", toolkit="13.3.1")],
        {"2.15": ["13.0", "13.3"]},
    )
    apply_sync(path, plan)
    after = path.read_text()
    assert after.splitlines()[0] == before.splitlines()[0]  # the comment
    assert '  torch: ["2.13", "2.14", "2.15"]\n  compute: [cpu, "12.6", "13.0", "13.3"]\n' in after
    assert after.index("exclude:") < after.index("torch_index:") < after.index("cuda:")
    assert '  "2.15":\n    version: 2.15.0\n    python: ["3.10", "3.11", "3.12", "3.13"]\n' in after
    assert '    cuda: ["13.0", "13.3"]\n    pypi_cuda: "13.3"\n' in after
    assert "version: 2.14.2" in after
    synced = matrix_file.load(path)
    assert synced.cuda["13.3"].arch_list == "9.0;10.0+PTX"
    assert list(synced.torch) == ["2.13", "2.14", "2.15"]


def test_builds_file_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "builds.yaml"
    path.write_text('"2.15": "13.2"\n')
    with pytest.raises(ConfigError, match=r'builds.yaml: "2.15": expected a list'):
        load_builds(path)
    path.write_text("2.15: [\"13.2\"]\n")
    with pytest.raises(ConfigError, match="keys are quoted torch minors"):
        load_builds(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_builds(tmp_path / "missing.yaml")
