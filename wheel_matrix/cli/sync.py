"""``sync-torch``: bring matrix.yaml up to torch's releases on the package index."""

from __future__ import annotations

import argparse
from pathlib import Path

from wheel_matrix import log, render
from wheel_matrix.cli.args import Subparsers, matrix_option
from wheel_matrix.configuration import matrix_file, settings
from wheel_matrix.configuration.sync import (
    DEFAULT_BUILDS,
    apply_sync,
    configured_index,
    load_builds,
    oldest_minor,
    plan_sync,
    read_releases,
)


def _cmd_sync(args: argparse.Namespace) -> int:
    matrix = matrix_file.load(args.matrix)
    builds = load_builds(args.builds)
    index = args.index_url or configured_index()
    plan = plan_sync(matrix, read_releases(index, oldest_minor(matrix)), builds, args.builds.name)
    for warning in plan.warnings:
        log.warn(warning)
    for line in plan.describe():
        log.info(f"  {line}")
    if not plan.changed:
        log.info(f"{matrix.source.name} is up to date with {index}")
        return 0
    if args.check:
        changes = len(plan.describe())
        log.info(f"{changes} change(s) to {matrix.source.name}: run `nox -s sync-torch`")
        return 1
    apply_sync(matrix.source, plan)
    log.info(f"updated {matrix.source}")
    if not args.no_render:
        synced = matrix_file.load(matrix.source)
        readme = render.read_readme(args.root)
        generated = render.render(synced, settings.load(), readme=readme)
        touched = render.write(args.root, generated)
        log.info(f"rendered: {len(touched)} generated file(s) changed under {args.root}")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sync-torch",
        help="add new torch releases (and patch releases) to matrix.yaml from the package index",
    )
    matrix_option(p)
    p.add_argument("--builds", type=Path, default=DEFAULT_BUILDS, metavar="FILE",
                   help="which CUDA versions PyTorch's index builds each release for "
                   "(default: pytorch-builds.yaml)")
    p.add_argument("--index-url", default=None, metavar="URL",
                   help="simple index to read torch from (default: the one pip is configured with)")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if the matrix is behind the index")
    p.add_argument("--no-render", action="store_true", help="don't re-render the generated files")
    p.add_argument("--root", type=Path, default=render.REPO_ROOT,
                   help="where the generated files live (default: the repository)")
    p.set_defaults(func=_cmd_sync)
