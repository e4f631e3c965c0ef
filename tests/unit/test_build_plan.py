"""The host backend's plan of a build: paths, environment and jobs, decided as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheel_matrix import locks
from wheel_matrix.backends.host import plan_build
from wheel_matrix.backends.options import BuildOptions, sync_sources
from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import find_cell
from wheel_matrix.plan.decisions import BuildSpec, decide


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    return BuildOptions(
        dist=tmp_path / "dist",
        cache=tmp_path / "cache",
        jobs=3,
        python="/usr/bin/python3.11",
        ccache=None,
    )


def spec_of(small_matrix_path: Path, cell_id: str) -> BuildSpec:
    matrix = matrix_file.load(small_matrix_path)
    return decide(find_cell(matrix, cell_id), "", matrix.test_arch)


def test_cuda_cell(
    small_matrix_path: Path, options: BuildOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    spec = spec_of(small_matrix_path, "torch2.14-cu130")
    build = plan_build(spec, options)
    assert dict(build.env) == {**spec.env, "MAX_JOBS": "3", "TORCH_CUDA_ARCH_LIST": "9.0;10.0+PTX"}
    # PyPI's torch (no index given): one venv for every cell that installs it.
    assert build.venv == options.cache / "venvs" / "python3.11-torch2.14.1-pypi"
    matrix = matrix_file.load(small_matrix_path)
    indexed = decide(find_cell(matrix, "torch2.14-cu126"), matrix.torch_index, "9.0")
    assert plan_build(indexed, options).venv.name == "python3.11-torch2.14.1-cu126"
    assert build.wheels == options.dist / "wheels"
    assert build.work == options.cache / "work" / "torch2.14-cu130-x86_64"


def test_the_purpose_picks_the_plans_arch_list(
    small_matrix_path: Path, options: BuildOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    spec = spec_of(small_matrix_path, "torch2.14-cu130")
    test = BuildOptions(**{**options.__dict__, "purpose": "test"})
    assert plan_build(spec, test).env["TORCH_CUDA_ARCH_LIST"] == "9.0"


def test_cpu_cell_has_no_arch_list(small_matrix_path: Path, options: BuildOptions) -> None:
    build = plan_build(spec_of(small_matrix_path, "torch2.13-cpu"), options)
    assert build.env["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] == "TRUE"
    assert "TORCH_CUDA_ARCH_LIST" not in build.env


def test_sync_sources_mirrors_and_prunes(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "csrc" / "cpu").mkdir(parents=True)
    (src / "setup.py").write_text("setup()\n")
    (src / "csrc" / "cpu" / "a.cpp").write_text("int a;\n")
    (src / "csrc" / "b.cpp").write_text("int b;\n")
    sync_sources(src, dest)
    assert (dest / "csrc" / "cpu" / "a.cpp").read_text() == "int a;\n"
    mtime = (dest / "csrc" / "b.cpp").stat().st_mtime
    assert mtime == (src / "csrc" / "b.cpp").stat().st_mtime  # ninja sees no change
    (src / "csrc" / "b.cpp").unlink()
    sync_sources(src, dest)
    assert not (dest / "csrc" / "b.cpp").exists()
    assert (dest / "setup.py").exists()


def test_compile_progress_names_each_ninja_step(capsys: pytest.CaptureFixture[str]) -> None:
    from wheel_matrix.backends.host import compile_progress

    compile_progress(
        "  [2/6] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile "
        "-I/x -c /tmp/src/csrc/cuda/fwd.cu -o /tmp/b/fwd.o -O3\n"
    )
    compile_progress("  running build_ext\n")
    compile_progress("[6/6] c++ -MMD -MF a.o.d -c /tmp/src/csrc/ops.cpp -o a.o\n")
    assert capsys.readouterr().err.splitlines() == ["    [2/6] fwd.cu", "    [6/6] ops.cpp"]


def test_a_second_build_of_the_same_cell_is_refused(
    small_matrix_path: Path, options: BuildOptions
) -> None:
    from wheel_matrix.backends.host import run_build
    from wheel_matrix.errors import UserError

    build = plan_build(spec_of(small_matrix_path, "torch2.14-cu130"), options)
    with (
        locks.exclusive(build.work.parent / f".{build.work.name}.lock", what="test"),
        pytest.raises(UserError, match=r"another build of torch2\.14-cu130-x86_64 holds"),
    ):
        run_build(build, options)
    assert not build.venv.exists()  # refused before any work
