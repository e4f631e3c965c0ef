"""Every command's ``register`` hook, in the order ``--help`` lists them."""

from __future__ import annotations

from wheel_matrix import build_cli
from wheel_matrix.cli import Register

REGISTRARS: list[Register] = [build_cli.register]
REGISTRARS.append(__import__("wheel_matrix.index.cli", fromlist=["register"]).register)
