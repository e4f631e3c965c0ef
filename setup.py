"""Build the causal_conv1d extension against the installed torch.

One shared library, ``causal_conv1d/_C.abi3.so``, registers the
``causal_conv1d`` ops with the dispatcher and uses no CPython API, so a single
build per (torch, CUDA) serves every Python version: the wheel is tagged abi3.

Environment (the wheel service's plan sets these; a plain build needs none):
  CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE   build the CPU kernels only
  CAUSAL_CONV1D_LOCAL_VERSION          local label appended to the version, as given
  CAUSAL_CONV1D_TORCH, _COMPUTE        the torch minor and compute platform ("cu130",
                                       "cpu") the label stands for: checked against
                                       the torch this build links
  CAUSAL_CONV1D_PY_LIMITED_API         abi3 floor of the wheel tag (default cp310)
  CAUSAL_CONV1D_REPRODUCIBLE=TRUE      compile as if the sources, torch, Python and CUDA
                                       lay at fixed paths (see reproducible_flags), so the
                                       library does not depend on where they were
  TORCH_CUDA_ARCH_LIST, MAX_JOBS, CUDA_HOME are honoured by torch's build helpers.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import sysconfig
from pathlib import Path

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = Path(__file__).resolve().parent


def fail(message: str) -> None:
    """Stop the build with one line that says what to do."""
    sys.exit(f"error: causal-conv1d build: {message}")


def env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"TRUE", "1", "YES", "ON"}


def read_version() -> str:
    text = (ROOT / "causal_conv1d" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if match is None:
        fail('no __version__ = "..." line in causal_conv1d/__init__.py')
    assert match is not None
    return match.group(1)


def torch_minor() -> str:
    major, minor = re.match(r"(\d+)\.(\d+)", torch.__version__).groups()  # type: ignore[union-attr]
    return f"{major}.{minor}"


def cuda_tag(cuda: str) -> str:
    """``"13.0"`` -> ``"cu130"``."""
    major, _, minor = cuda.partition(".")
    return f"cu{major}{minor.split('.')[0] or '0'}"


def local_label(build_cuda: bool) -> str | None:
    """The PEP 440 local label, once what it stands for matches the torch this build links."""
    label = os.environ.get("CAUSAL_CONV1D_LOCAL_VERSION", "").strip()
    if not label:
        return None
    torch_wanted = os.environ.get("CAUSAL_CONV1D_TORCH", "").strip()
    if torch_wanted and torch_wanted != torch_minor():
        fail(
            f"the label {label!r} is for torch {torch_wanted} "
            f"but the installed torch is {torch.__version__}"
        )
    compute = os.environ.get("CAUSAL_CONV1D_COMPUTE", "").strip()
    if compute == "cpu" and build_cuda:
        fail(
            f"the label {label!r} is for a CPU build but the installed torch "
            f"{torch.__version__} has CUDA {torch.version.cuda}: install a +cpu torch or set "
            "CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE"
        )
    if compute and compute != "cpu":
        have = cuda_tag(torch.version.cuda) if torch.version.cuda else "cpu"
        if not build_cuda or have != compute:
            why = "CUDA build is skipped" if torch.version.cuda and not build_cuda else ""
            fail(
                f"the label {label!r} is for a {compute} build but the installed torch "
                f"{torch.__version__} is {have}" + (f" and the {why}" if why else "")
            )
    return label


# Where the build's inputs appear to lie in a reproducible build's output (debug
# information, __FILE__ in assertion messages, device line information).
SOURCE_PREFIX = "/causal-conv1d"
PYTHON_PREFIX = "/python"
SITE_PREFIX = "/site-packages"
CUDA_PREFIX = "/cuda"
# Build tree in reproducible builds: setuptools' default names the Python
# (temp.linux-x86_64-cpython-311), and the compiler records it.
REPRODUCIBLE_BUILD_TEMP = "build/temp"


def prefix_maps(build_cuda: bool) -> list[tuple[str, str]]:
    """(real folder, fixed name) pairs, most specific last: gcc applies the last match.

    Each folder is given as spelt (torch names its headers by its module's
    path, which may run through a symlink) and resolved.
    """
    torch_parent = Path(torch.__file__).parent.parent
    folders = [
        (sys.base_prefix, PYTHON_PREFIX),
        (sys.prefix, PYTHON_PREFIX),
        (sysconfig.get_paths()["include"], f"{PYTHON_PREFIX}/include"),
        (str(torch_parent), SITE_PREFIX),
    ]
    if build_cuda and CUDA_HOME:
        folders.append((CUDA_HOME, CUDA_PREFIX))
    folders.append((str(ROOT), SOURCE_PREFIX))
    maps: list[tuple[str, str]] = []
    for folder, fixed in folders:
        for spelling in dict.fromkeys([os.path.abspath(folder), os.path.realpath(folder)]):
            maps.append((spelling.rstrip("/") + "/", fixed + "/"))
    return maps


def launcher(folder: Path, name: str, role: str) -> Path:
    """An executable ``folder/name`` running build_support/reproducible_cuda.py as ``role``."""
    script = ROOT / "build_support" / "reproducible_cuda.py"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(script))} {role} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def reproducible_flags(build_cuda: bool) -> tuple[list[str], list[str]]:
    """Compiler flags (cxx, nvcc) that keep the build's folders out of the library.

    gcc's ``-ffile-prefix-map`` covers debug information and ``__FILE__``.
    For CUDA, nvcc runs through build_support/reproducible_cuda.py (as
    $PYTORCH_NVCC, and as its host compiler), which applies the same maps
    where gcc can't: the device line information, the names nvcc's front end
    derives from the source's path, and its random seeds. ``-objtemp`` names
    nvcc's intermediate files after the object instead of
    ``tmpxft_<pid>_<counter>``, a name gcc builds a symbol from.
    """
    maps = [f"-ffile-prefix-map={old}={new}" for old, new in prefix_maps(build_cuda)]
    nvcc: list[str] = []
    if build_cuda:
        if os.environ.get("CC"):
            fail("CC is set: a reproducible CUDA build chooses nvcc's host compiler itself")
        folder = ROOT / REPRODUCIBLE_BUILD_TEMP / "reproducible"
        # torch reads $PYTORCH_NVCC when it writes the build file, after this.
        real = os.environ.get("PYTORCH_NVCC") or str(Path(CUDA_HOME or "", "bin", "nvcc"))
        os.environ["CAUSAL_CONV1D_NVCC"] = real
        os.environ["PYTORCH_NVCC"] = str(launcher(folder, "nvcc", "nvcc"))
        nvcc = ["-objtemp", "-ccbin", str(launcher(folder, "gcc", "gcc"))]
        nvcc += [arg for m in maps for arg in ("-Xcompiler", m)]
    return maps, nvcc


def main() -> None:
    build_cuda = torch.version.cuda is not None and not env_true("CAUSAL_CONV1D_SKIP_CUDA_BUILD")
    if build_cuda and (CUDA_HOME is None or not Path(CUDA_HOME, "bin", "nvcc").exists()):
        fail(
            f"torch {torch.__version__} has CUDA {torch.version.cuda} but no nvcc was found "
            f"(CUDA_HOME={CUDA_HOME}): set CUDA_HOME to a CUDA toolkit, or set "
            "CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE for a CPU-only build"
        )
    version = read_version()
    label = local_label(build_cuda)
    if label:
        version = f"{version}+{label}"

    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp"))
    sources += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cpu").glob("*.cpp"))
    # The sources are C++17; no -std flag is passed so that torch adds the
    # standard its own headers need (c++17 up to torch 2.11, c++20 later).
    # -fopenmp: at::parallel_for is inline and only runs in parallel when the
    # including TU is OpenMP-enabled; libgomp resolves to the one torch loads.
    cxx_flags = ["-O3", "-fopenmp"]
    extra_compile_args: dict[str, list[str]] = {"cxx": cxx_flags}
    extension_cls = CppExtension
    if build_cuda:
        sources += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cuda").glob("*.cu"))
        sources += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cuda").glob("*.cpp"))
        extra_compile_args["nvcc"] = [
            "-O3",
            "-lineinfo",
            "--expt-relaxed-constexpr",
        ]
        extension_cls = CUDAExtension

    options: dict[str, dict[str, str]] = {}
    if env_true("CAUSAL_CONV1D_REPRODUCIBLE"):
        cxx_maps, nvcc_flags = reproducible_flags(build_cuda)
        cxx_flags += cxx_maps
        if build_cuda:
            extra_compile_args["nvcc"] += nvcc_flags
        options["build"] = {"build_temp": REPRODUCIBLE_BUILD_TEMP}

    limited_api = os.environ.get("CAUSAL_CONV1D_PY_LIMITED_API", "cp310").strip() or "cp310"
    if not re.fullmatch(r"cp3\d+", limited_api):
        fail(f"CAUSAL_CONV1D_PY_LIMITED_API={limited_api!r} is not a tag like 'cp310'")

    extension = extension_cls(
        name="causal_conv1d._C",
        sources=sources,
        include_dirs=[str(ROOT / "csrc")],
        extra_compile_args=extra_compile_args,
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
    )
    setup(
        version=version,
        install_requires=[f"torch=={torch_minor()}.*"],
        ext_modules=[extension],
        cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
        options={**options, "bdist_wheel": {"py_limited_api": limited_api}},
    )


if __name__ == "__main__":
    main()
