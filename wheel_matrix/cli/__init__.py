"""Command line: ``python -m wheel_matrix <command>``; the only place argparse is used.

Each command module here exposes ``register(subparsers)`` and calls into the
stages; this module only turns UserError into one line on stderr and exit
code 2 (tracebacks with --debug).
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from wheel_matrix import log
from wheel_matrix.cli.args import Register
from wheel_matrix.errors import UserError


def _registrars() -> list[Register]:
    """Every command's ``register`` hook, in the order ``--help`` lists them."""
    from wheel_matrix.cli import build, index, rebuild, render, sync

    return [build.register, rebuild.register, index.register, render.register, sync.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheel-matrix",
        description="Build causal-conv1d wheels for a torch x CUDA x Python matrix and publish "
        "them as a PEP 503 index.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="stream tool output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


# The distributions that provide modules commands import when they run.
_PROVIDERS = {
    "pypi_simple": "pypi-simple",
    "jinja2": "Jinja2",
    "ruamel": "ruamel.yaml",
    "botocore": "boto3",
    "yaml": "PyYAML",
}
# What a full disk, a read-only mount or a permission says: the environment, not a bug.
_ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENAMETOOLONG,
    }
)


def environment_problem(exc: BaseException) -> str | None:
    """One line for an exception the machine caused (a full disk, a missing package), else
    None (a bug, which keeps its traceback)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and not exc.name.startswith(
        "wheel_matrix"
    ):
        top = exc.name.split(".")[0]
        package = _PROVIDERS.get(top, top)
        return (
            f"this command needs {package} (module {exc.name!r}), which is not installed: "
            "pip install --group service (from the repository root)"
        )
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.VERBOSE = args.verbose
    try:
        result: int = args.func(args)
    except UserError as err:
        if args.debug:
            raise
        log.error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except (ModuleNotFoundError, OSError) as exc:
        problem = environment_problem(exc)
        if problem is None or args.debug:
            raise
        log.error(problem)
        return UserError.exit_code
    return result


if __name__ == "__main__":
    sys.exit(main())
