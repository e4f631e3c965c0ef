"""Every command's ``register`` hook, in the order ``--help`` lists them."""

from __future__ import annotations

from wheel_matrix import build_cli, docker, render, sync
from wheel_matrix.cli import Register
from wheel_matrix.index import cli as index_cli

REGISTRARS: list[Register] = [build_cli.register, index_cli.register]
REGISTRARS += [render.register, sync.register, docker.register]
