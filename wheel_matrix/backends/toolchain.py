"""Finding or provisioning the CUDA toolkit a cell needs.

A system toolkit whose nvcc matches the cell's CUDA major.minor is used as is.
Otherwise, for CUDA versions whose compiler ships on PyPI (13.x: the
nvidia-cuda-nvcc, -crt, -runtime, -cccl and nvidia-nvvm wheels), the toolkit
is installed into a cache folder that has CUDA_HOME's shape, so a maintainer
needs no system CUDA at all.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wheel_matrix import proc
from wheel_matrix.configuration.matrix_file import CudaSpec
from wheel_matrix.errors import ToolError, UserError

ToolkitChoice = Literal["auto", "system", "pypi"]

# The wheels whose union is a CUDA_HOME-shaped tree under nvidia/cu<major>.
PYPI_TOOLKIT_PACKAGES = (
    "nvidia-cuda-nvcc",
    "nvidia-cuda-crt",
    "nvidia-nvvm",
    "nvidia-cuda-runtime",
    "nvidia-cuda-cccl",
)

_RELEASE = re.compile(r"release (\d+\.\d+)")


@dataclass(frozen=True)
class Toolkit:
    home: Path
    version: str  # "13.0"
    source: Literal["system", "pypi"]

    @property
    def nvcc(self) -> Path:
        return self.home / "bin" / "nvcc"

    def env(self) -> dict[str, str]:
        return {
            "CUDA_HOME": str(self.home),
            "CUDA_PATH": str(self.home),
            "PATH": f"{self.home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }


def nvcc_version(nvcc: Path) -> str | None:
    try:
        out = proc.run([nvcc, "--version"], capture=True, quiet=True)
    except ToolError:
        return None
    match = _RELEASE.search(out)
    return match.group(1) if match else None


def _candidate_homes(version: str) -> list[Path]:
    homes: list[Path] = []
    if os.environ.get("CUDA_HOME"):
        homes.append(Path(os.environ["CUDA_HOME"]))
    homes += [Path(f"/usr/local/cuda-{version}"), Path("/usr/local/cuda")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        # nvcc on PATH may be a wrapper script; only a real toolkit tree counts.
        homes.append(Path(nvcc).resolve().parent.parent)
    return homes


def system_toolkits() -> dict[str, Toolkit]:
    """Every usable system toolkit, by CUDA major.minor."""
    found: dict[str, Toolkit] = {}
    candidates = [Path(p) for p in sorted(Path("/usr/local").glob("cuda-*"))]
    for home in [*_candidate_homes(""), *candidates]:
        nvcc = home / "bin" / "nvcc"
        if not nvcc.is_file() or not (home / "include" / "cuda_runtime.h").is_file():
            continue
        version = nvcc_version(nvcc)
        if version and version not in found:
            found[version] = Toolkit(home=home.resolve(), version=version, source="system")
    return found


def pypi_toolkit_home(cache: Path, cuda: CudaSpec) -> Path:
    major = cuda.version.split(".")[0]
    return cache / "toolkits" / f"cuda-{cuda.version}" / "nvidia" / f"cu{major}"


def provision_pypi_toolkit(cuda: CudaSpec, cache: Path) -> Toolkit:
    """Install nvcc and friends from PyPI into the cache (once) and return it."""
    home = pypi_toolkit_home(cache, cuda)
    if (home / "bin" / "nvcc").is_file():
        return Toolkit(home=home, version=cuda.version, source="pypi")
    target = home.parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    # Install into a scratch folder and rename it into place: an interrupted
    # download never leaves a half toolkit that looks complete.
    scratch = Path(tempfile.mkdtemp(prefix=f".cuda-{cuda.version}-", dir=target.parent))
    try:
        proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                scratch,
                *(f"{name}=={cuda.version}.*" for name in PYPI_TOOLKIT_PACKAGES),
            ]
        )
        major = cuda.version.split(".")[0]
        lib = scratch / "nvidia" / f"cu{major}" / "lib"
        # torch's build links -lcudart, which wants the unversioned name.
        runtime = sorted(lib.glob("libcudart.so.*"))
        if not runtime:
            raise ToolError(f"the CUDA {cuda.version} runtime wheel holds no libcudart.so.*")
        link = lib / "libcudart.so"
        if not link.exists():
            link.symlink_to(runtime[0].name)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    toolkit = Toolkit(home=home, version=cuda.version, source="pypi")
    found = nvcc_version(toolkit.nvcc)
    if found != cuda.version:
        raise ToolError(f"nvcc from PyPI reports CUDA {found}, expected {cuda.version}")
    return toolkit


def resolve(cuda: CudaSpec, cache: Path, choice: ToolkitChoice = "auto") -> Toolkit:
    """The toolkit to build a CUDA ``cuda.version`` cell with."""
    if choice != "pypi":
        system = system_toolkits().get(cuda.version)
        if system is not None:
            return system
        if choice == "system":
            raise UserError(
                f"no system CUDA {cuda.version} toolkit found (looked at $CUDA_HOME, "
                f"/usr/local/cuda-{cuda.version} and nvcc on PATH)"
            )
    if not cuda.pypi_toolkit:
        raise UserError(
            f"CUDA {cuda.version} needs a system toolkit (nvcc {cuda.version}), and PyPI has no "
            f"compiler for it: set CUDA_HOME, or build in the devel container (--backend docker)"
        )
    return provision_pypi_toolkit(cuda, cache)
