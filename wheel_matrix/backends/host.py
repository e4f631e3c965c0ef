"""The host build backend: one cell, built with this machine's toolchain.

Plan, then apply: ``plan_build`` turns the plan's ``BuildSpec`` and the
maintainer's options into everything this backend does (paths, environment,
jobs) as data, which the unit tests check; ``run_build`` executes it:
toolkit -> build venv with the cell's torch -> compile -> auditwheel repair
(torch and CUDA libraries excluded) -> build information and a canonical
archive (``wheel.reproducible``) -> checks -> the wheel store. The compile
runs with SOURCE_DATE_EPOCH set to the commit's date.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import locks, log, proc
from wheel_matrix.backends import compile_cache, provenance, source, toolchain
from wheel_matrix.backends.options import BuildOptions, sync_sources
from wheel_matrix.errors import UserError
from wheel_matrix.plan.caching import CompileCache
from wheel_matrix.plan.decisions import BuildSpec, arch_list, jobs
from wheel_matrix.wheel import check, repair, reproducible, store


@dataclass(frozen=True)
class HostBuild:
    spec: BuildSpec
    venv: Path
    work: Path  # per-cell build tree (a copy of the sources, raw and repaired wheels)
    wheels: Path  # the wheel store
    env: Mapping[str, str]  # without the toolkit's variables, known only when applied
    arch_list: str
    jobs: int
    compile_cache: CompileCache | None = None

    @property
    def src(self) -> Path:
        return self.work / "src"


def plan_build(spec: BuildSpec, options: BuildOptions) -> HostBuild:
    cell = spec.cell
    arches = arch_list(spec, options.purpose, options.arch_list)
    job_count = jobs(cell.cuda is not None, options.jobs)
    env = {**spec.env, "MAX_JOBS": str(job_count)}
    if cell.cuda is not None:
        env["TORCH_CUDA_ARCH_LIST"] = arches
    python_tag = Path(options.python).resolve().name  # python3 -> python3.11
    # Named by where torch comes from: cells that install PyPI's torch share one venv.
    source = "pypi" if len(spec.torch_install) == 1 else cell.compute
    venv = options.cache / "venvs" / f"{python_tag}-torch{cell.torch.version}-{source}"
    work = options.cache / "work" / cell.id
    cache = compile_cache.for_host(options.cache, options.ccache)
    if cache is not None:
        env.update(cache.env())
    return HostBuild(
        spec=spec,
        venv=venv,
        work=work,
        wheels=options.dist / "wheels",
        env=env,
        arch_list=arches,
        jobs=job_count,
        compile_cache=cache,
    )


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(build: HostBuild, python: str) -> Path:
    """A venv holding the cell's torch and the build tools, reused across builds.

    Its marker file names what was installed: the torch line, then the build
    tools, which the plan pins exactly; when those pins move, only the tools
    are installed again.
    """
    spec = build.spec
    ready = build.venv / ".wheel-matrix-ready"
    pip: list[str | Path] = [
        _venv_python(build.venv), "-m", "pip", "install", "-q", "--disable-pip-version-check"
    ]
    tools = " ".join(spec.build_tools)
    if not ready.exists():
        shutil.rmtree(build.venv, ignore_errors=True)
        proc.run([python, "-m", "venv", build.venv])
        proc.run([*pip, *spec.build_tools, *spec.torch_install])
        ready.write_text(f"{' '.join(spec.torch_install)}\n{tools}\n")
    else:
        lines = ready.read_text().splitlines()
        if lines[1:2] != [tools]:
            proc.run([*pip, *spec.build_tools])
            ready.write_text(f"{lines[0] if lines else ''}\n{tools}\n")
    _check_torch(build)
    return _venv_python(build.venv)


def _check_torch(build: HostBuild) -> None:
    probe = "import torch; print(torch.__version__); print(torch.version.cuda or 'cpu')"
    out = proc.run([_venv_python(build.venv), "-c", probe], capture=True, quiet=True).split()
    version, cuda = out[0], out[1]
    cell = build.spec.cell
    # Exactly the pinned release (its local label, +cu126, aside): another patch
    # release compiles other bytes, and the build information names the pin.
    if version.split("+")[0] != cell.torch.version:
        raise UserError(
            f"build venv {build.venv} holds torch {version}, cell needs {cell.torch.version}"
        )
    if cell.cuda is not None and cuda != cell.cuda.version:
        hint = (
            f"; PyPI's torch {cell.torch.minor} is built for CUDA {cell.torch.pypi_cuda}, "
            "so this cell needs PyTorch's index (--torch-index)"
        )
        raise UserError(
            f"torch {version} in {build.venv} is built for CUDA {cuda}, "
            f"cell {cell.id} needs CUDA {cell.cuda.version}{hint}"
        )


def run_build(build: HostBuild, options: BuildOptions) -> store.BuildResult:
    """Apply ``build``; a second build of the same cell fails at once instead of clobbering."""
    build.work.parent.mkdir(parents=True, exist_ok=True)
    lock = build.work.parent / f".{build.work.name}.lock"
    with locks.exclusive(lock, what=f"build of {build.spec.cell.id}", timeout=0):
        return _run_build(build, options)


def _run_build(build: HostBuild, options: BuildOptions) -> store.BuildResult:
    start = time.monotonic()
    cell = build.spec.cell
    env = dict(build.env)
    state = source.state(options.source)
    env["SOURCE_DATE_EPOCH"] = str(state.epoch)
    nvcc = None
    if cell.cuda is not None:
        with log.step(f"CUDA {cell.cuda.version} toolkit"):
            kit = toolchain.resolve(cell.cuda, options.cache, options.toolkit)
            log.info(f"    nvcc {kit.version} from {kit.source}: {kit.home}")
            env.update(kit.env())
            nvcc = kit.nvcc
    tools = provenance.host_toolchain(build.spec, env, nvcc)
    if build.compile_cache is not None:
        compile_cache.install_shims(build.compile_cache)
        env["PATH"] = build.compile_cache.path(env.get("PATH", os.environ.get("PATH", "")))
    with log.step(f"build environment: torch {cell.torch.version} ({cell.compute})"):
        python = ensure_venv(build, options.python)
    raw, repaired, final = build.work / "raw", build.work / "repaired", build.work / "final"
    for folder in (raw, repaired, final):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    what = f"arch {build.arch_list}, " if build.arch_list else ""
    with log.step(f"compile {cell.version} ({what}{build.jobs} jobs)"):
        provenance.report_source(state)
        sync_sources(options.source, build.src)
        # A fresh build tree every time: ninja would keep an object whose sources and
        # command line are unchanged even when what else shapes it changed (a
        # re-provisioned nvcc at the same path, the environment). The compile cache,
        # keyed by the compiler's bytes, the flags and the preprocessed source, makes
        # the recompile cheap.
        shutil.rmtree(build.src / "build", ignore_errors=True)
        proc.run(
            [
                python,
                "-m",
                "pip",
                "wheel",
                "-v",  # lets ninja's [n/N] lines through, for progress and failure tails
                "--no-build-isolation",
                "--no-deps",
                "--disable-pip-version-check",
                "-w",
                raw,
                build.src,
            ],
            env=env,
            on_line=compile_progress,
        )
    with log.step("repair (auditwheel, torch and CUDA libraries excluded)"):
        wheel = repair.repair(repair.only_wheel(raw, "the compile step"), repaired, build.spec)
    with log.step("build information, canonical archive"):
        info = provenance.build_info(build.spec, build.arch_list, state, tools)
        wheel = reproducible.finalize(wheel, info, final)
    with log.step("check (metadata, torch pin, abi3, twine)"):
        check.check_wheel(wheel, cell)
    return store.store_wheel(wheel, build.wheels, start)


_NINJA_STEP = re.compile(r"\[(\d+)/(\d+)\].*\s-c\s+(\S+)")


def compile_progress(line: str) -> None:
    """Turn ninja's long ``[n/N] <compiler command>`` lines into ``[n/N] file``."""
    step = _NINJA_STEP.search(line)
    if step is not None:
        done, total, source = step.groups()
        log.info(f"    [{done}/{total}] {Path(source).name}")
