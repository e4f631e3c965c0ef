"""ccache wiring: the same variables and compiler links on the host and in the container."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wheel_matrix.backends import compile_cache, host
from wheel_matrix.backends.options import BuildOptions
from wheel_matrix.configuration import matrix_file
from wheel_matrix.plan import container, find_cell
from wheel_matrix.plan.caching import COMPILERS, CompileCache
from wheel_matrix.plan.decisions import BuildSpec, decide


def spec_of(small_matrix_path: Path, cell_id: str) -> BuildSpec:
    matrix = matrix_file.load(small_matrix_path)
    return decide(find_cell(matrix, cell_id), "", matrix.test_arch)


def test_host_plan_routes_compilers_through_ccache(
    tmp_path: Path, small_matrix_path: Path
) -> None:
    options = BuildOptions(dist=tmp_path / "dist", cache=tmp_path / "cache", jobs=2,
                           ccache="/usr/bin/ccache")
    plan = host.plan_build(spec_of(small_matrix_path, "torch2.14-cu130"), options)
    cache = plan.compile_cache
    assert cache is not None
    assert cache.directory == str(tmp_path / "cache" / "ccache" / "store")
    assert plan.env["CCACHE_DIR"] == cache.directory
    # No base folder: ccache would pass relative source paths, another wheel than without it.
    assert "CCACHE_BASEDIR" not in plan.env
    assert plan.env["PYTORCH_NVCC"] == str(tmp_path / "cache" / "ccache" / "bin" / "nvcc")
    assert plan.env["TORCH_NO_COMPILER_WRAPPER"] == "1"
    assert "PATH" not in plan.env  # prepended when applied, after the toolkit's own
    assert cache.path("/usr/bin") == f"{cache.shims}{os.pathsep}/usr/bin"


def test_no_ccache_means_no_cache_variables(tmp_path: Path, small_matrix_path: Path) -> None:
    options = BuildOptions(dist=tmp_path, cache=tmp_path, ccache=None)
    plan = host.plan_build(spec_of(small_matrix_path, "torch2.13-cpu"), options)
    assert plan.compile_cache is None
    assert not [k for k in plan.env if k.startswith("CCACHE") or k == "PYTORCH_NVCC"]


def test_container_uses_the_same_variables() -> None:
    on_host = CompileCache("/x/ccache", "/d", "/s").env()
    inside = container.CACHE.env()
    assert on_host.keys() == inside.keys()
    assert inside["CCACHE_DIR"] == container.CCACHE_DIR
    assert inside["PYTORCH_NVCC"] == "/opt/ccache/bin/nvcc"


def test_install_shims_is_idempotent(tmp_path: Path) -> None:
    cache = CompileCache("/usr/bin/ccache", str(tmp_path / "store"), str(tmp_path / "bin"))
    compile_cache.install_shims(cache)
    compile_cache.install_shims(cache)
    for name in COMPILERS:
        assert os.readlink(tmp_path / "bin" / name) == "/usr/bin/ccache"
    moved = CompileCache("/opt/ccache", cache.directory, cache.shims)
    compile_cache.install_shims(moved)
    assert os.readlink(tmp_path / "bin" / "c++") == "/opt/ccache"


def test_second_compile_is_a_cache_hit(tmp_path: Path) -> None:
    """The masquerade links really cache: a one-line C++ file compiled twice."""
    program = compile_cache.find_program()
    if program is None or shutil.which("c++") is None:
        pytest.skip("needs ccache and a C++ compiler")
    cache = compile_cache.for_host(tmp_path / "cache", program)
    assert cache is not None
    compile_cache.install_shims(cache)
    source = tmp_path / "a.cpp"
    source.write_text("int answer() { return 42; }\n")
    env = {**os.environ, **cache.env(), "PATH": cache.path(os.environ["PATH"])}
    for _ in range(2):
        subprocess.run(["c++", "-c", str(source), "-o", str(tmp_path / "a.o")], env=env,
                       check=True)
    stats = subprocess.run([program, "--print-stats"], env=env, check=True,
                           capture_output=True, text=True).stdout
    counts = dict(line.split("\t") for line in stats.splitlines() if "\t" in line)
    assert int(counts["direct_cache_hit"]) + int(counts.get("preprocessed_cache_hit", 0)) == 1
    assert int(counts["cache_miss"]) == 1
