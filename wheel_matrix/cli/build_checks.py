"""``build``'s arguments, checked before any work: one line naming the bad one, in a moment.

A bad argument must not travel through toolkit -> venv -> pip install torch ->
compile before it fails (or worse, not fail at all): everything a build is
told on its command line and in the variables that stand in for it
(``$TORCH_CUDA_ARCH_LIST``, ``$MAX_JOBS``, ``$WHEEL_MATRIX_CACHE``) is checked
here, and nothing is created on the way.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from wheel_matrix.configuration import values
from wheel_matrix.errors import UserError, shorten

MAX_JOBS_LIMIT = 1024  # more parallel compiles than any machine has cores for


def check_build_arguments(args: argparse.Namespace) -> None:
    """A UserError for the first bad argument of ``build``; nothing is read or written."""
    if args.arch_list is not None:
        _arch_list(args.arch_list, "--arch-list")
    elif os.environ.get("TORCH_CUDA_ARCH_LIST"):  # set but empty reads as unset
        _arch_list(os.environ["TORCH_CUDA_ARCH_LIST"], "$TORCH_CUDA_ARCH_LIST")
    if args.jobs is not None:
        _jobs(str(args.jobs), "--jobs")
    elif os.environ.get("MAX_JOBS"):
        _jobs(os.environ["MAX_JOBS"], "$MAX_JOBS")
    if args.torch_index:  # "" means no extra index
        problem = values.url_template_problem(args.torch_index)
        if problem:
            raise UserError(f"--torch-index: {problem}")
    writable_folder(args.dist, "--dist")
    writable_folder(args.dist / "wheels", "--dist")
    if args.cache is not None:
        writable_folder(args.cache, "--cache")
    elif os.environ.get("WHEEL_MATRIX_CACHE"):
        writable_folder(Path(os.environ["WHEEL_MATRIX_CACHE"]), "$WHEEL_MATRIX_CACHE")


def _arch_list(text: str, flag: str) -> None:
    problem = values.arch_list_problem(text)
    if problem:
        raise UserError(f"{flag} {shorten(text)}: {problem}")


def _jobs(text: str, flag: str) -> None:
    number = int(text) if text.isdigit() and len(text) < 10 else None
    if number is None or number > MAX_JOBS_LIMIT:
        raise UserError(
            f"{flag} {shorten(text)}: expected a number of jobs from 0 (automatic) "
            f"to {MAX_JOBS_LIMIT}"
        )


def writable_folder(path: Path, flag: str) -> None:
    """``path`` is a folder this process may write into, or can be made as one."""
    probe = path
    while not (probe.exists() or probe.is_symlink()) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        below = "" if probe == path else f" ({probe} is not a folder)"
        raise UserError(f"{flag} {path}: not a folder{below}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {probe} is not writable")
