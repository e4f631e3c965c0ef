"""ccache wiring: the same variables and compiler links on the host and in the container."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wheel_matrix import build, compile_cache, model, render
from wheel_matrix.plan import find_cell


def test_host_plan_routes_compilers_through_ccache(
    tmp_path: Path, small_matrix_path: Path
) -> None:
    options = build.BuildOptions(dist=tmp_path / "dist", cache=tmp_path / "cache", jobs=2,
                                 ccache="/usr/bin/ccache")
    plan = build.plan_build(find_cell(model.load(small_matrix_path), "torch2.14-cu130"), options)
    cache = plan.compile_cache
    assert cache is not None
    assert cache.directory == str(tmp_path / "cache" / "ccache" / "store")
    assert plan.env["CCACHE_DIR"] == cache.directory
    assert plan.env["CCACHE_BASEDIR"] == str(plan.src)
    assert plan.env["PYTORCH_NVCC"] == str(tmp_path / "cache" / "ccache" / "bin" / "nvcc")
    assert plan.env["TORCH_NO_COMPILER_WRAPPER"] == "1"
    assert "PATH" not in plan.env  # prepended when applied, after the toolkit's own
    assert cache.path("/usr/bin") == f"{cache.shims}{os.pathsep}/usr/bin"


def test_no_ccache_means_no_cache_variables(tmp_path: Path, small_matrix_path: Path) -> None:
    options = build.BuildOptions(dist=tmp_path, cache=tmp_path, ccache=None)
    plan = build.plan_build(find_cell(model.load(small_matrix_path), "torch2.13-cpu"), options)
    assert plan.compile_cache is None
    assert not [k for k in plan.env if k.startswith("CCACHE") or k == "PYTORCH_NVCC"]


def test_container_uses_the_same_variables() -> None:
    host = compile_cache.CompileCache("/x/ccache", "/d", "/s", "/b").env()
    container = render.CONTAINER_CACHE.env()
    assert host.keys() == container.keys()
    assert container["CCACHE_DIR"] == render.CCACHE_DIR
    assert container["PYTORCH_NVCC"] == "/opt/ccache/bin/nvcc"


def test_install_shims_is_idempotent(tmp_path: Path) -> None:
    cache = compile_cache.CompileCache("/usr/bin/ccache", str(tmp_path / "store"),
                                       str(tmp_path / "bin"), str(tmp_path))
    compile_cache.install_shims(cache)
    compile_cache.install_shims(cache)
    for name in compile_cache.COMPILERS:
        assert os.readlink(tmp_path / "bin" / name) == "/usr/bin/ccache"
    moved = compile_cache.CompileCache("/opt/ccache", cache.directory, cache.shims, cache.basedir)
    compile_cache.install_shims(moved)
    assert os.readlink(tmp_path / "bin" / "c++") == "/opt/ccache"


def test_second_compile_is_a_cache_hit(tmp_path: Path) -> None:
    """The masquerade links really cache: a one-line C++ file compiled twice."""
    program = compile_cache.find_program()
    if program is None or shutil.which("c++") is None:
        pytest.skip("needs ccache and a C++ compiler")
    cache = compile_cache.for_host(tmp_path / "cache", tmp_path, program)
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
