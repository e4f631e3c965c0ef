"""What this machine can build, and which cell it builds by default.

The default is the cell of the installed torch when there is one (so a
maintainer gets a wheel for the environment they work in), else the newest
cell whose toolkit and torch this machine can get without a container.
"""

from __future__ import annotations

import importlib.util
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix.backends import toolchain
from wheel_matrix.configuration.matrix_file import Matrix
from wheel_matrix.errors import UserError
from wheel_matrix.plan.cells import Cell, cells
from wheel_matrix.plan.label import compute_tag

_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class InstalledTorch:
    minor: str
    cuda: str | None  # None for a CPU-only torch


@dataclass(frozen=True)
class Host:
    arch: str
    torch: InstalledTorch | None
    system_cuda: tuple[str, ...]  # CUDA versions with a local nvcc


def machine_arch() -> str:
    arch = platform.machine().lower()
    return _ARCH_ALIASES.get(arch, arch)


def installed_torch() -> InstalledTorch | None:
    """The torch importable here, read from torch/version.py without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return None
    version = re.search(r"^__version__\s*=\s*['\"](\d+\.\d+)", text, re.M)
    cuda = re.search(r"^cuda\s*(?::\s*\S+)?\s*=\s*['\"]([\d.]+)['\"]", text, re.M)
    if version is None:
        return None
    cuda_minor = ".".join(cuda.group(1).split(".")[:2]) if cuda else None
    return InstalledTorch(minor=version.group(1), cuda=cuda_minor)


def detect() -> Host:
    return Host(
        arch=machine_arch(),
        torch=installed_torch(),
        system_cuda=tuple(sorted(toolchain.system_toolkits())),
    )


def unbuildable_reason(cell: Cell, host: Host) -> str | None:
    """Why the host backend can't build ``cell`` here, or None if it can."""
    if cell.arch != host.arch:
        return f"needs an {cell.arch} machine (this one is {host.arch})"
    if cell.cuda is None:
        return None
    if not cell.pypi_build:
        return (
            f"torch {cell.torch.minor} for CUDA {cell.cuda.version} is not on PyPI "
            "(needs PyTorch's own index)"
        )
    if cell.cuda.version not in host.system_cuda and not cell.cuda.pypi_toolkit:
        return f"needs nvcc {cell.cuda.version} (none here, and PyPI has none for it)"
    return None


def default_cell(matrix: Matrix, host: Host) -> Cell:
    all_cells = cells(matrix)
    if host.torch is not None:
        mine = (host.torch.minor, compute_tag(host.torch.cuda), host.arch)
        for cell in all_cells:
            if (cell.torch.minor, cell.compute, cell.arch) == mine:
                return cell
    for cell in all_cells:  # newest first
        if unbuildable_reason(cell, host) is None:
            return cell
    raise UserError(
        f"no cell of {matrix.source} can be built on this {host.arch} machine; "
        "name one with --cell and use --backend docker"
    )
