"""``render``: write (or --check) the files generated from matrix.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

from wheel_matrix import log, render
from wheel_matrix.cli.args import Subparsers, matrix_option
from wheel_matrix.configuration import matrix_file, settings


def _cmd_render(args: argparse.Namespace) -> int:
    matrix = matrix_file.load(args.matrix)
    readme = render.read_readme(args.root)
    generated = render.render(matrix, settings.load(args.settings), readme=readme)
    if args.check:
        problems = render.drift(args.root, generated)
        for line in problems:
            log.error(line)
        if problems:
            log.info(f"{len(problems)} generated file(s) out of date: run `nox -s render`")
            return 1
        log.info(f"{len(generated)} generated files match {matrix.source.name}")
        return 0
    touched = render.write(args.root, generated)
    for path in touched:
        log.info(f"wrote {path}" if (args.root / path).exists() else f"deleted {path}")
    log.info(f"{len(generated)} generated files, {len(touched)} changed")
    return 0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "render", help="write the Dockerfiles, cibuildwheel configs and workflows from matrix.yaml"
    )
    matrix_option(p)
    p.add_argument("--settings", type=Path, default=None, metavar="FILE",
                   help="render settings (default: templates/settings.yaml)")
    p.add_argument("--root", type=Path, default=render.REPO_ROOT,
                   help="where the generated files live (default: the repository)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; fail naming each file that differs")
    p.set_defaults(func=_cmd_render)
