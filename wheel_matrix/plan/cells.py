"""The planner: which cells exist, and what each is called.

Pure data in, data out. ``decisions`` adds everything decided about building
a cell; templates, nox sessions and the build backends only read what the
plan decides, so the matrix logic lives here once.

The Python axis is folded into each cell: the extension uses no CPython API
and is tagged abi3, so one build per (torch, compute platform, arch) serves
every Python of that torch release; the Pythons are kept for testing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from wheel_matrix.configuration.matrix_file import CPU, CudaSpec, Matrix, Rule, TorchRelease
from wheel_matrix.errors import ConfigError, UserError, did_you_mean, shorten
from wheel_matrix.plan.label import Label, compute_tag


@dataclass(frozen=True)
class Cell:
    """One wheel to build: a torch release for one compute platform and CPU arch."""

    project: str  # "causal-conv1d"
    project_version: str  # "1.7.0"
    torch: TorchRelease
    cuda: CudaSpec | None  # None for a CPU cell
    arch: str  # "x86_64" or "aarch64"
    pythons: tuple[str, ...]

    @property
    def compute(self) -> str:
        """The compute platform's tag, as channels and labels name it: "cu130" or "cpu"."""
        return compute_tag(self.cuda.version if self.cuda else None)

    @property
    def id(self) -> str:
        """Stable, readable id used by nox, workflows and the CLI."""
        return f"torch{self.torch.minor}-{self.compute}-{self.arch}"

    @property
    def label(self) -> Label:
        return Label(compute=self.compute, torch=self.torch.minor)

    @property
    def version(self) -> str:
        return f"{self.project_version}+{self.label}"

    @property
    def torch_requirement(self) -> str:
        return self.label.torch_requirement

    @property
    def abi3_tag(self) -> str:
        """The oldest Python the cell serves, as the wheel's abi3 tag (cp310)."""
        oldest = min(self.pythons, key=_version_key)
        return "cp" + oldest.replace(".", "")

    @property
    def pypi_build(self) -> bool:
        """Whether this is the build for PyPI's own torch (listed in the pypi channel)."""
        return (self.cuda.version if self.cuda else None) == self.torch.pypi_cuda

    @property
    def sort_key(self) -> tuple[tuple[int, ...], tuple[int, ...], str]:
        """Newest torch first; within it the newest CUDA, then CPU."""
        cuda = _version_key(self.cuda.version) if self.cuda else (0,)
        return (_version_key(self.torch.minor), cuda, self.arch)


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _matches(rule: Rule, torch: str, compute: str, python: str | None, arch: str) -> bool:
    return (
        rule.torch in (None, torch)
        and rule.compute in (None, compute)
        and (python is None or rule.python in (None, python))
        and rule.arch in (None, arch)
    )


def _supported(release: TorchRelease, compute: str) -> bool:
    return compute == CPU or compute in release.cuda


def unsupported_reason(matrix: Matrix, torch: str, compute: str) -> str | None:
    """Why torch ``torch`` has no ``compute`` build, or None if it has one."""
    release = matrix.torch_release(torch)
    if _supported(release, compute):
        return None
    return f"torch {torch} has no CUDA {compute} build (it supports CUDA {', '.join(release.cuda)})"


def _make_cell(
    matrix: Matrix, release: TorchRelease, compute: str, arch: str, pythons: Iterable[str]
) -> Cell:
    return Cell(
        project=matrix.project.name,
        project_version=matrix.project.version,
        torch=release,
        cuda=None if compute == CPU else matrix.cuda[compute],
        arch=arch,
        pythons=tuple(sorted(set(pythons), key=_version_key)),
    )


def cells(matrix: Matrix) -> tuple[Cell, ...]:
    """Every cell of the matrix, newest first."""
    found: dict[tuple[str, str, str], Cell] = {}
    for torch, compute, arch in itertools.product(
        matrix.axes.torch, matrix.axes.compute, matrix.axes.arch
    ):
        release = matrix.torch[torch]
        if not _supported(release, compute):
            continue
        if any(
            _matches(r, torch, compute, None, arch) and r.python is None for r in matrix.exclude
        ):
            continue
        pythons = [
            p
            for p in matrix.axes.python
            if p in release.python
            and not any(_matches(r, torch, compute, p, arch) for r in matrix.exclude)
        ]
        if pythons:
            found[(torch, compute, arch)] = _make_cell(matrix, release, compute, arch, pythons)

    for i, rule in enumerate(matrix.include):
        where = f"include[{i}]"
        if rule.torch is None or rule.compute is None:
            raise ConfigError(matrix.source, where, "an include names at least torch and compute")
        reason = unsupported_reason(matrix, rule.torch, rule.compute)
        if reason:
            raise ConfigError(matrix.source, where, reason)
        release = matrix.torch[rule.torch]
        if rule.python is not None and rule.python not in release.python:
            raise ConfigError(
                matrix.source,
                where,
                f"torch {rule.torch} does not support Python {rule.python} "
                f"(it supports {', '.join(release.python)})",
            )
        arch = rule.arch or "x86_64"
        key = (rule.torch, rule.compute, arch)
        extra = (
            [rule.python] if rule.python else [p for p in matrix.axes.python if p in release.python]
        )
        if not extra:
            raise ConfigError(
                matrix.source,
                where,
                f"none of the axes' Pythons ({', '.join(matrix.axes.python)}) is one torch "
                f"{rule.torch} supports ({', '.join(release.python)}): name one with python:",
            )
        previous = found[key].pythons if key in found else ()
        found[key] = _make_cell(matrix, release, rule.compute, arch, [*previous, *extra])
    return tuple(sorted(found.values(), key=lambda c: c.sort_key, reverse=True))


def channel_torches(all_cells: Iterable[Cell]) -> dict[str, list[str]]:
    """Channel -> the torch minors its cells build, oldest first."""
    found: dict[str, set[str]] = {}
    for cell in all_cells:
        found.setdefault(cell.label.channel, set()).add(cell.torch.minor)
    return {c: sorted(t, key=_version_key) for c, t in sorted(found.items())}


def pypi_channels(matrix: Matrix) -> dict[str, str]:
    """Torch minor -> the channel whose build matches PyPI's own torch wheel (cu132, or cpu)."""
    return {minor: compute_tag(r.pypi_cuda) for minor, r in matrix.torch.items()}


def find_cell(matrix: Matrix, cell_id: str, default_arch: str = "x86_64") -> Cell:
    """Look a cell up by id (``torch2.14-cu130-x86_64``; the arch may be left off)."""
    parts = cell_id.split("-")
    if len(parts) == 2:
        parts.append(default_arch)
    all_cells = cells(matrix)
    by_id = {c.id: c for c in all_cells}
    if len(parts) == 3 and "-".join(parts) in by_id:
        return by_id["-".join(parts)]
    if len(parts) != 3 or not parts[0].startswith("torch"):
        raise UserError(f"bad cell id {shorten(cell_id)}: expected e.g. 'torch2.14-cu130-x86_64'")
    torch, tag = parts[0].removeprefix("torch"), parts[1]
    if torch not in matrix.torch:
        raise UserError(
            f"unknown cell {shorten(cell_id)}: matrix.yaml has no torch "
            f"{shorten(torch, quote=False)}"
            f"{did_you_mean(torch, matrix.torch)}"
        )
    compute = _compute_of_tag(matrix, tag)
    if compute is None:
        known = [compute_tag(None if c == CPU else c) for c in (CPU, *matrix.cuda)]
        raise UserError(
            f"unknown cell {shorten(cell_id)}: no compute platform {shorten(tag)}"
            f"{did_you_mean(tag, known)}"
        )
    reason = unsupported_reason(matrix, torch, compute)
    if reason:
        raise UserError(f"unknown cell {shorten(cell_id)}: {reason}")
    raise UserError(
        f"cell {shorten(cell_id)} is not in the matrix (left out by matrix.yaml's axes or "
        "exclude rules)"
        f"{did_you_mean(cell_id, by_id)}"
    )


def _compute_of_tag(matrix: Matrix, tag: str) -> str | None:
    if tag == CPU:
        return CPU
    for version in matrix.cuda:
        if compute_tag(version) == tag:
            return version
    return None
