"""How compiles are cached: ccache in masquerade mode, the same for the host and a container.

A folder of links named after the compilers (``c++``, ``gcc``, ``nvcc`` ...)
that point at ccache comes first on PATH, and ccache hands each call on to
the next program of that name on PATH. Torch's extension builder calls
``c++`` from PATH and nvcc through ``$PYTORCH_NVCC``, so both go through the
cache without a wrapper argument that some torch releases would quote into
one word.

No CCACHE_BASEDIR: ccache would hand the compiler source paths made relative
to the build tree, and the debug information of a build through ccache would
then name other paths than one without it. The tree's own paths never reach
the library anyway (setup.py maps them to fixed ones), and the cache does
not hash the working directory (CCACHE_NOHASHDIR), so a cached object is the
object a fresh compile would make.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath

COMPILERS = ("cc", "c++", "gcc", "g++", "nvcc")


@dataclass(frozen=True)
class CompileCache:
    program: str  # the ccache executable the links point at
    directory: str  # CCACHE_DIR, kept between builds
    shims: str  # the folder of compiler-named links, first on PATH

    def env(self) -> dict[str, str]:
        """Variables for the compile step (PATH is prepended by the caller)."""
        return {
            "CCACHE_DIR": self.directory,
            "CCACHE_NOHASHDIR": "true",
            # The compiler's bytes, not its mtime: toolkits are re-extracted on every runner.
            "CCACHE_COMPILERCHECK": "content",
            "PYTORCH_NVCC": str(PurePosixPath(self.shims) / "nvcc"),
            # Newer torch prepends ccache itself when it is on PATH; the links already do.
            "TORCH_NO_COMPILER_WRAPPER": "1",
        }

    def path(self, rest: str) -> str:
        return f"{self.shims}{os.pathsep}{rest}" if rest else self.shims
