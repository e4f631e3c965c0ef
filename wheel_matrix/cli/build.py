"""Commands that read the plan and build cells: ``cells``, ``default-cell``, ``build``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wheel_matrix import log, render
from wheel_matrix.backends import container, engine, host, local_base, machine
from wheel_matrix.backends.options import BuildOptions
from wheel_matrix.cli.args import Subparsers, matrix_option
from wheel_matrix.cli.build_checks import check_build_arguments
from wheel_matrix.configuration import matrix_file, settings
from wheel_matrix.configuration.matrix_file import Matrix
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell, cells, find_cell
from wheel_matrix.plan import container as layout
from wheel_matrix.plan.decisions import PURPOSES, BuildSpec, decide
from wheel_matrix.wheel import store


def cell_record(spec: BuildSpec) -> dict[str, object]:
    """The JSON form of a cell and its build, as workflows and scripts consume it."""
    cell = spec.cell
    return {
        "id": cell.id,
        "torch": cell.torch.minor,
        "torch_version": cell.torch.version,
        "compute": cell.compute,
        "cuda": cell.cuda.version if cell.cuda else None,
        "arch": cell.arch,
        "pythons": list(cell.pythons),
        "version": cell.version,
        "torch_requirement": cell.torch_requirement,
        "arch_lists": dict(spec.arch_lists),
        "torch_install": list(spec.torch_install),
    }


def _spec(matrix: Matrix, cell: Cell) -> BuildSpec:
    return decide(cell, matrix.torch_index, matrix.test_arch)


def _cmd_cells(args: argparse.Namespace) -> int:
    matrix = matrix_file.load(args.matrix)
    all_cells = cells(matrix)
    if args.json:
        print(json.dumps([cell_record(_spec(matrix, c)) for c in all_cells], indent=2))
        return 0
    here = machine.detect()
    rows = [
        [c.id, c.version, " ".join(c.pythons), machine.unbuildable_reason(c, here) or "yes"]
        for c in all_cells
    ]
    print(log.table(["cell", "version", "pythons", "buildable here"], rows))
    print(f"{len(all_cells)} cells")
    return 0


def _cmd_default_cell(args: argparse.Namespace) -> int:
    print(machine.default_cell(matrix_file.load(args.matrix), machine.detect()).id)
    return 0


def pick_backend(choice: str, *, default_cell: bool = False) -> str:
    """``auto`` is the container backend where a Docker engine answers, else the host.

    The default cell is by definition one this machine builds without a
    container, so ``auto`` builds it on the host.
    """
    if choice != "auto":
        return choice
    if default_cell:
        log.info("backend: host (the default cell is the one this machine builds itself)")
        return "host"
    if engine.answers():
        log.info("backend: docker (a Docker engine answers here)")
        return "docker"
    log.info("backend: host (no Docker engine answers here)")
    return "host"


def _build_in_container(
    matrix: Matrix, spec: BuildSpec, options: BuildOptions
) -> store.BuildResult:
    # The container backend checks the committed files against what the plan renders now.
    wanted = {layout.dockerfile_path(spec.cell.compute), layout.config_path(spec.cell.id)}
    rendered = {g.path: g.text for g in render.render(matrix, settings.load()) if g.path in wanted}
    engine.require()
    local = local_base.prepare(spec, options.cache) if options.local_base else None
    build = container.plan_container(spec, options, rendered, render.REPO_ROOT, local)
    return container.run_container(build, options)


def _cmd_build(args: argparse.Namespace) -> int:
    check_build_arguments(args)  # before any work: a bad argument fails in a moment
    if args.local_base and args.backend == "host":
        raise UserError("--local-base is for the container backend: drop --backend host")
    matrix = matrix_file.load(args.matrix)
    here = machine.detect()
    ids = args.cell or []
    selected = [find_cell(matrix, i, here.arch) for i in ids] or [
        machine.default_cell(matrix, here)
    ]
    backend = "docker" if args.local_base else pick_backend(args.backend, default_cell=not ids)
    options = BuildOptions(
        dist=args.dist,
        purpose=args.purpose,
        arch_list=args.arch_list,
        toolkit=args.cuda_toolkit,
        jobs=args.jobs,
        local_base=args.local_base,
        **({"cache": args.cache} if args.cache else {}),
    )
    torch_index = matrix.torch_index if args.torch_index is None else args.torch_index
    results = []
    for cell in selected:
        reason = machine.unbuildable_reason(cell, here)
        if cell.arch != here.arch and reason:
            raise UserError(f"cannot build {cell.id} here: {reason}")
        spec = decide(cell, torch_index, matrix.test_arch)
        log.info(f"Building {cell.id}: {cell.version} (Pythons {', '.join(cell.pythons)})")
        if backend == "docker":
            results.append(_build_in_container(matrix, spec, options))
        else:
            results.append(host.run_build(host.plan_build(spec, options), options))
    print(store.summary(results))
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser("cells", help="list the matrix's cells")
    matrix_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_cells)

    p = sub.add_parser("default-cell", help="print the cell this machine builds by default")
    matrix_option(p)
    p.set_defaults(func=_cmd_default_cell)

    p = sub.add_parser("build", help="build wheels for one or more cells into DIST/wheels")
    matrix_option(p)
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
    p.add_argument(
        "--local-base",
        action="store_true",
        help="container backend on base images made on this machine (no registry needed), "
        "compiling with no network: for offline machines and tests; its wheels need this "
        "machine's glibc, so they are not for publishing",
    )
    p.add_argument("--dist", type=Path, default=Path("dist"), help="output folder (default: dist)")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="venvs, toolkits and build trees (default: ~/.cache/wheel-matrix)",
    )
    p.add_argument(
        "--purpose",
        choices=PURPOSES,
        default="release",
        help="which of the plan's GPU arch lists to compile for: release (matrix.yaml's per-CUDA "
        "list), or pull-request and test (its one test_arch) (default: release)",
    )
    p.add_argument(
        "--arch-list",
        default=None,
        help="TORCH_CUDA_ARCH_LIST override such as '8.0;9.0+PTX' (default: "
        "$TORCH_CUDA_ARCH_LIST, else --purpose's)",
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
        help="index for torch builds PyPI lacks ('{compute}' is replaced; '' for none)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel compile jobs, MAX_JOBS (default: $MAX_JOBS; unset or 0: automatic, every "
        "core with about 4 GiB of memory per nvcc job)",
    )
    p.set_defaults(func=_cmd_build)
