"""``rebuild-check``: rebuild a wheel from its build information and compare the bytes."""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

from wheel_matrix import log
from wheel_matrix.cli.args import Subparsers
from wheel_matrix.cli.build_checks import writable_folder
from wheel_matrix.errors import UserError

# Identical, or a difference (as diff and cmp say it).
DIFFERENT = 1


def _cmd_rebuild_check(args: argparse.Namespace) -> int:
    from wheel_matrix.backends import rebuild
    from wheel_matrix.backends.options import REPO_ROOT

    if args.cache is not None:
        writable_folder(args.cache, "--cache")
    if args.out is not None:
        writable_folder(args.out, "--out")
    if args.local_base and args.backend != "docker":
        raise UserError("--local-base is for the container backend: add --backend docker")
    backend = ("--backend", args.backend, *(["--local-base"] if args.local_base else []))
    outcome = rebuild.check(
        args.wheel, args.repo or REPO_ROOT, cache=args.cache, keep=args.out, backend=backend
    )
    if outcome.identical:
        print(f"identical: {outcome.wheel}\n  sha256 {outcome.sha256}")
    else:
        print(f"differs: {outcome.wheel}\n  sha256 {outcome.sha256} (given)\n"
              f"  sha256 {outcome.rebuilt_sha256} (rebuilt)")
        if outcome.members:
            print(f"  {len(outcome.members)} member(s) differ:")
            print("\n".join(f"    {m}" for m in outcome.members))
        else:
            # The same files packed otherwise: another deflate (zlib-ng compresses
            # differently from zlib), or an archive not written by this service.
            print("  every member is the same: only the packing differs (the zlib here is "
                  f"{zlib.ZLIB_RUNTIME_VERSION})")
        if outcome.toolchain:
            print("  tools in another version (given != rebuilt):")
            print("\n".join(f"    {t}" for t in outcome.toolchain))
    if outcome.kept is not None:
        log.info(f"rebuilt wheel kept at {outcome.kept}")
    return 0 if outcome.identical else DIFFERENT


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "rebuild-check",
        help="rebuild a wheel from the commit and cell it records, and compare the bytes",
        description="Read WHEEL's build information (.dist-info/build-info.json), rebuild "
        "that cell from that commit (with the host backend unless told otherwise), and "
        "compare: exit 0 when the rebuild is byte-identical, 1 when it differs (naming the "
        "members and tools that differ), 2 when it can't be checked.",
    )
    p.add_argument("wheel", metavar="WHEEL_OR_URL", help="a wheel file, or its http(s) URL")
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="git checkout holding the recorded commit (default: this service's own)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="venvs, toolkits and build trees for the rebuild (default: ~/.cache/wheel-matrix)",
    )
    p.add_argument(
        "--backend",
        choices=("host", "docker"),
        default="host",
        help="rebuild with this machine's toolchain (default), or in the cell's build image, "
        "which has the release builds' toolchain",
    )
    p.add_argument("--local-base", action="store_true",
                   help="with --backend docker: on base images made here (see build --help)")
    p.add_argument("--out", type=Path, default=None,
                   help="also keep the rebuilt wheel in this folder")
    p.set_defaults(func=_cmd_rebuild_check)
