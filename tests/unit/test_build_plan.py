"""The host backend's plan: environment, torch source and paths, decided as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheel_matrix import model
from wheel_matrix.build import BuildOptions, default_jobs, plan_build, sync_sources
from wheel_matrix.plan import find_cell


@pytest.fixture
def options(tmp_path: Path) -> BuildOptions:
    return BuildOptions(
        dist=tmp_path / "dist",
        cache=tmp_path / "cache",
        jobs=3,
        python="/usr/bin/python3.11",
        torch_index="https://download.pytorch.org/whl/{compute}",
        ccache=None,
    )


def test_cuda_cell_env(
    small_matrix_path: Path, options: BuildOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    cell = find_cell(model.load(small_matrix_path), "torch2.14-cu130")
    plan = plan_build(cell, options)
    assert dict(plan.env) == {
        "CAUSAL_CONV1D_LOCAL_VERSION": "cu130torch2.14",
        "CAUSAL_CONV1D_PY_LIMITED_API": "cp310",
        "MAX_JOBS": "3",
        "TORCH_CUDA_ARCH_LIST": "9.0;10.0+PTX",
    }
    # PyPI's torch 2.14 is the CUDA 13.0 build: no extra index.
    assert plan.torch_install == ("torch==2.14.1",)
    assert plan.venv == options.cache / "venvs" / "python3.11-torch2.14.1-cu130"
    assert plan.wheels == options.dist / "wheels"


def test_arch_list_override_order(
    small_matrix_path: Path, options: BuildOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell = find_cell(model.load(small_matrix_path), "torch2.14-cu130")
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0")
    assert plan_build(cell, options).env["TORCH_CUDA_ARCH_LIST"] == "9.0"
    explicit = BuildOptions(**{**options.__dict__, "arch_list": "8.0"})
    assert plan_build(cell, explicit).env["TORCH_CUDA_ARCH_LIST"] == "8.0"


def test_cpu_cell_skips_cuda(small_matrix_path: Path, options: BuildOptions) -> None:
    cell = find_cell(model.load(small_matrix_path), "torch2.13-cpu")
    plan = plan_build(cell, options)
    assert plan.env["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] == "TRUE"
    assert "TORCH_CUDA_ARCH_LIST" not in plan.env
    assert plan.env["CAUSAL_CONV1D_LOCAL_VERSION"] == "cputorch2.13"


def test_torch_missing_from_pypi_uses_torch_index(
    small_matrix_path: Path, options: BuildOptions
) -> None:
    cell = find_cell(model.load(small_matrix_path), "torch2.14-cu126")
    assert plan_build(cell, options).torch_install == (
        "torch==2.14.1",
        "--extra-index-url",
        "https://download.pytorch.org/whl/cu126",
    )


def test_default_jobs_is_positive() -> None:
    assert 1 <= default_jobs(cuda=True) <= default_jobs(cuda=False)


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
    from wheel_matrix.build import compile_progress

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
    from wheel_matrix import filelock
    from wheel_matrix.build import run_build
    from wheel_matrix.errors import UserError

    plan = plan_build(find_cell(model.load(small_matrix_path), "torch2.14-cu130"), options)
    with (
        filelock.locked(plan.work, what="test"),
        pytest.raises(UserError, match=r"another build of torch2\.14-cu130-x86_64 holds"),
    ):
        run_build(plan, options)
    assert not plan.venv.exists()  # refused before any work
