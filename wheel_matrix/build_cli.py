"""Commands that read the matrix and build cells: ``cells``, ``default-cell``, ``build``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from wheel_matrix import build, docker, host, log, model
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell, cells, find_cell

if TYPE_CHECKING:
    from wheel_matrix.cli import Subparsers


def _matrix_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="FILE",
        help="matrix file (default: the repository's matrix.yaml)",
    )


def cell_record(cell: Cell) -> dict[str, object]:
    """The JSON form of a cell, as workflows and scripts consume it."""
    return {
        "id": cell.id,
        "torch": cell.torch.minor,
        "torch_version": cell.torch.version,
        "compute": cell.label.compute,
        "cuda": cell.cuda.version if cell.cuda else None,
        "arch": cell.arch,
        "pythons": list(cell.pythons),
        "version": cell.version,
        "torch_requirement": cell.torch_requirement,
        "arch_list": cell.arch_list,
    }


def _cmd_cells(args: argparse.Namespace) -> int:
    matrix = model.load(args.matrix)
    all_cells = cells(matrix)
    if args.json:
        print(json.dumps([cell_record(c) for c in all_cells], indent=2))
        return 0
    here = host.detect()
    rows = [
        [c.id, c.version, " ".join(c.pythons), host.unbuildable_reason(c, here) or "yes"]
        for c in all_cells
    ]
    print(log.table(["cell", "version", "pythons", "buildable here"], rows))
    print(f"{len(all_cells)} cells")
    return 0


def _cmd_default_cell(args: argparse.Namespace) -> int:
    print(host.default_cell(model.load(args.matrix), host.detect()).id)
    return 0


def pick_backend(choice: str) -> str:
    """``auto`` is the container backend where a Docker engine answers, else the host."""
    if choice != "auto":
        return choice
    if docker.engine_answers():
        log.info("backend: docker (a Docker engine answers here)")
        return "docker"
    log.info("backend: host (no Docker engine answers here)")
    return "host"


def _cmd_build(args: argparse.Namespace) -> int:
    matrix = model.load(args.matrix)
    here = host.detect()
    ids = args.cell or []
    selected = [find_cell(matrix, i, here.arch) for i in ids] or [host.default_cell(matrix, here)]
    backend = pick_backend(args.backend)
    options = build.BuildOptions(
        dist=args.dist,
        arch_list=args.arch_list,
        toolkit=args.cuda_toolkit,
        jobs=args.jobs,
        torch_index=matrix.torch_index if args.torch_index is None else args.torch_index,
        **({"cache": args.cache} if args.cache else {}),
    )
    results = []
    for cell in selected:
        reason = host.unbuildable_reason(cell, here)
        if cell.arch != here.arch and reason:
            raise UserError(f"cannot build {cell.id} here: {reason}")
        log.info(f"Building {cell.id}: {cell.version} (Pythons {', '.join(cell.pythons)})")
        if backend == "docker":
            results.append(docker.run_docker(docker.plan_docker(cell, options, matrix), options))
        else:
            results.append(build.run_build(build.plan_build(cell, options), options))
    print(build.summary(results))
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("cells", help="list the matrix's cells")
    _matrix_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_cells)

    p = sub.add_parser("default-cell", help="print the cell this machine builds by default")
    _matrix_arg(p)
    p.set_defaults(func=_cmd_default_cell)

    p = sub.add_parser("build", help="build wheels for one or more cells into DIST/wheels")
    _matrix_arg(p)
    p.add_argument(
        "--cell",
        action="append",
        metavar="ID",
        help="cell id such as torch2.14-cu130 (repeatable; default: this machine's)",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "host", "docker"),
        default="auto",
        help="host toolchain, or the cell's build container via cibuildwheel "
        "(default auto: docker where a Docker engine answers)",
    )
    p.add_argument("--dist", type=Path, default=Path("dist"), help="output folder (default: dist)")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="venvs, toolkits and build trees (default: ~/.cache/wheel-matrix)",
    )
    p.add_argument(
        "--arch-list",
        default=None,
        help="TORCH_CUDA_ARCH_LIST override (default: $TORCH_CUDA_ARCH_LIST, "
        "else matrix.yaml's per-CUDA list)",
    )
    p.add_argument(
        "--cuda-toolkit",
        choices=("auto", "system", "pypi"),
        default="auto",
        help="where nvcc comes from (auto: a matching system toolkit, else PyPI)",
    )
    p.add_argument(
        "--torch-index",
        default=None,
        help="index for torch builds PyPI lacks ('{compute}' is replaced)",
    )
    p.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (MAX_JOBS)")
    p.set_defaults(func=_cmd_build)
