"""What the command modules share: the subparsers type and the options several commands take."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Register: TypeAlias = Callable[[Subparsers], None]


def matrix_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="FILE",
        help="matrix file (default: $WHEEL_MATRIX_FILE, else the repository's matrix.yaml)",
    )
