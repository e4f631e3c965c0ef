"""Everything decided about building one cell, whatever backend builds it.

``decide`` turns a cell into a ``BuildSpec``: the variables setup.py reads,
how to install the cell's torch, the build tools, the libraries auditwheel
must leave out, and the arch list for each purpose. The host backend, the
container backend (through its rendered cibuildwheel configuration) and the
generated workflows all read this one value; none works it out again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from wheel_matrix.plan.cells import Cell

Purpose = Literal["release", "pull-request", "test"]
PURPOSES: tuple[Purpose, ...] = ("release", "pull-request", "test")

# setuptools exactly: it writes METADATA, WHEEL and RECORD, so another version is
# another wheel, and a rebuild of a commit installs what that commit pins. The others
# leave no trace in the wheel (setuptools has its own bdist_wheel and packaging), and a
# pinned packaging would fight cibuildwheel's own pin when it tests in the same Python.
BUILD_TOOLS = ("setuptools==84.2.1", "wheel", "ninja", "packaging")

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

# nvcc compiling torch's headers takes about this much memory per job.
NVCC_JOB_MEMORY = 4 << 30


@dataclass(frozen=True)
class BuildSpec:
    cell: Cell
    env: Mapping[str, str]  # what setup.py reads (CAUSAL_CONV1D_*)
    torch_install: tuple[str, ...]  # pip arguments that install the cell's torch
    build_tools: tuple[str, ...]
    repair_excludes: tuple[str, ...]
    arch_lists: Mapping[Purpose, str]  # TORCH_CUDA_ARCH_LIST per purpose; "" for CPU cells


def decide(cell: Cell, torch_index: str, test_arch: str) -> BuildSpec:
    """The build of ``cell``; ``torch_index`` serves torch builds PyPI lacks ({compute})."""
    env = {
        "CAUSAL_CONV1D_LOCAL_VERSION": str(cell.label),
        # What the label says, for setup.py to check against the torch it builds with.
        "CAUSAL_CONV1D_TORCH": cell.torch.minor,
        "CAUSAL_CONV1D_COMPUTE": cell.compute,
        "CAUSAL_CONV1D_PY_LIMITED_API": cell.abi3_tag,
        # Keep the build's folders out of the library: a rebuild elsewhere gives the same bytes.
        "CAUSAL_CONV1D_REPRODUCIBLE": "TRUE",
    }
    if cell.cuda is None:
        env["CAUSAL_CONV1D_SKIP_CUDA_BUILD"] = "TRUE"
    torch = [f"torch=={cell.torch.version}"]
    if cell.cuda is not None and not cell.pypi_build and torch_index:
        torch += ["--extra-index-url", torch_index.format(compute=cell.compute)]
    release = cell.cuda.arch_list if cell.cuda else ""
    quick = test_arch if cell.cuda else ""
    return BuildSpec(
        cell=cell,
        env=env,
        torch_install=tuple(torch),
        build_tools=BUILD_TOOLS,
        repair_excludes=REPAIR_EXCLUDES,
        arch_lists={"release": release, "pull-request": quick, "test": quick},
    )


def build_tool_version(spec: BuildSpec, name: str) -> str:
    """The version of build tool ``name`` that ``spec`` pins."""
    for requirement in spec.build_tools:
        tool, _, version = requirement.partition("==")
        if tool == name:
            return version
    raise KeyError(name)


def repair_argv(spec: BuildSpec, python: str, wheel: str, dest: str) -> list[str]:
    """The auditwheel call, the same on the host and (rendered) in a container."""
    flags = [arg for pattern in spec.repair_excludes for arg in ("--exclude", pattern)]
    return [python, "-m", "auditwheel", "repair", "-w", dest, *flags, wheel]


def arch_list(spec: BuildSpec, purpose: Purpose = "release", override: str | None = None) -> str:
    """The TORCH_CUDA_ARCH_LIST of a build: the user's override (``--arch-list``, else
    ``$TORCH_CUDA_ARCH_LIST``), else the plan's list for ``purpose``; "" for CPU cells."""
    if spec.cell.cuda is None:
        return ""
    given = override or os.environ.get("TORCH_CUDA_ARCH_LIST", "")
    return given or spec.arch_lists[purpose]


def jobs(cuda: bool, override: int | None = None) -> int:
    """Parallel compile jobs: ``--jobs``, else ``$MAX_JOBS``, else every core, but nvcc
    gets about 4 GiB of memory per job."""
    if override:
        return override
    from_env = os.environ.get("MAX_JOBS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    cores = os.cpu_count() or 1
    if not cuda:
        return cores
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return cores
    return max(1, min(cores, memory // NVCC_JOB_MEMORY))
