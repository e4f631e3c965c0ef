"""Base images made on this machine, for ``build --backend docker --local-base``.

Where no registry can be reached, the release images' bases (manylinux_2_28 and
NVIDIA's CUDA devel image) are replaced by stand-ins built here; the cell's own
Dockerfile is the rendered one, with ``BASE=local``:

1. an OS image: Debian 12 (``debootstrap --variant=minbase``) with a compiler,
   imported with ``docker import`` (about two minutes, once);
2. ``wheel-matrix/local-base``: this machine's CPythons at /opt/python/cpXY-cpXY
   (3.9 is the helper cibuildwheel runs itself; 3.11 and 3.12 build and test),
   pip, cibuildwheel's own tools at its pins, auditwheel;
3. ``wheel-matrix/local-cuda``: nvcc from PyPI's nvidia-* wheels (CUDA 13.x),
   laid out as NVIDIA's image does.

Each tag carries the hash of its inputs, so an image is reused until they
change. The compile then runs with no network at all: what pip installs in
the container (build tools, torch) comes from a wheelhouse prepared here.
Wheels from these images need Debian 12's glibc: for testing the release path,
not for publishing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import locks, log, proc
from wheel_matrix.backends import engine
from wheel_matrix.configuration.matrix_file import CudaSpec
from wheel_matrix.errors import UserError
from wheel_matrix.plan.cells import Cell
from wheel_matrix.plan.decisions import BuildSpec

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "local-base"
ROOTFS_TAG = "wheel-matrix/local-rootfs:bookworm"
HELPER_PYTHON = "3.9"  # cibuildwheel runs its own helper scripts with /opt/python/cp39-cp39
TESTED_PYTHONS = ("3.11", "3.12")  # built and smoke-tested in the image
ROOTFS_PACKAGES = (
    "gcc", "g++", "make", "patchelf", "git", "zip", "unzip", "xz-utils", "file",
    "ca-certificates", "libssl3", "libffi8", "libsqlite3-0", "libuuid1", "libbz2-1.0",
    "liblzma5", "zlib1g", "libncursesw6", "libreadline8", "libexpat1", "libgdbm6",
)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class LocalBase:
    """What a ``--local-base`` build of one cell uses instead of the registry's images."""

    base: str  # the manylinux stand-in
    cuda: str | None  # the CUDA devel stand-in (CUDA cells)
    wheelhouse: Path  # every package pip installs in the container
    pythons: tuple[str, ...]  # the cell's Pythons the base carries: built and tested


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def pyenv_python(version: str) -> Path:
    """This machine's CPython ``version`` (3.11) as pyenv installed it."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(root.glob(f"{version}.*/bin/python{version}"))
    if not found:
        raise UserError(
            f"--local-base needs CPython {version} on this machine (looked in {root}); "
            f"install it with pyenv"
        )
    return found[-1]


def _build(tag: str, context: Path, dockerfile: Path, build_args: dict[str, str]) -> None:
    # The host's network: pip reaches the package index while the image is made.
    args = [arg for k, v in build_args.items() for arg in ("--build-arg", f"{k}={v}")]
    engine.run(
        [engine.client(), "build", "--network=host", "--tag", tag, "--file", dockerfile,
         *args, context],
        env={"DOCKER_BUILDKIT": "1"},
    )


def _debian_mirror() -> str:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    return "http://deb.debian.org/debian"


def ensure_rootfs(work: Path) -> str:
    """The OS image: Debian 12 minbase with a compiler, made once."""
    if engine.image_id(ROOTFS_TAG) is not None:
        return ROOTFS_TAG
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise UserError("--local-base needs debootstrap (Debian: apt-get install debootstrap)")
    with log.step("make the local OS image (debootstrap Debian 12, once; a few minutes)"):
        tree = work / "rootfs"
        shutil.rmtree(tree, ignore_errors=True)
        proc.run([
            debootstrap, "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
            "bookworm", tree, _debian_mirror(),
        ])
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(tree / junk, ignore_errors=True)
        (tree / "etc" / "machine-id").write_text("")
        shutil.copyfile(CA_BUNDLE, tree / "etc/ssl/certs/ca-certificates.crt")
        archive = work / "rootfs.tar"
        proc.run(["tar", "-C", tree, "-cf", archive, "."])
        shutil.rmtree(tree)
        engine.run([
            engine.client(), "import",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "ENV LANG=C.UTF-8",
            "--change", 'CMD ["/bin/bash"]',
            archive, ROOTFS_TAG,
        ])
        archive.unlink()
    return ROOTFS_TAG


def _copy_python(prefix: Path, dest: Path) -> None:
    """The interpreter alone: no site-packages, test suite or static library."""
    minor = ".".join(prefix.name.split(".")[:2])

    def skip(folder: str, names: list[str]) -> set[str]:
        where = Path(folder)
        drop = {n for n in names if n.endswith(".a")}
        if where == prefix / "lib" / f"python{minor}":
            drop |= {"test", "idlelib", "turtledemo"} & set(names)
        if where == prefix / "lib" / f"python{minor}" / "site-packages":
            drop |= set(names)
        if where == prefix / "bin":
            keep = {f"python{minor}", "python3", "python", f"python{minor}-config"}
            drop |= set(names) - keep
        return drop

    shutil.copytree(prefix, dest, symlinks=True, ignore=skip)
    (dest / ".orig-prefix").write_text(str(prefix))


def _cibuildwheel_constraints() -> Path:
    import cibuildwheel

    return Path(cibuildwheel.__file__).parent / "resources"


def ensure_base(work: Path) -> str:
    """The manylinux stand-in, rebuilt only when its inputs change."""
    rootfs = ensure_rootfs(work)
    dockerfile = TEMPLATES / "base.Dockerfile"
    pythons = {v: pyenv_python(v) for v in (HELPER_PYTHON, *TESTED_PYTHONS)}
    resources = _cibuildwheel_constraints()
    digest = _digest(
        dockerfile.read_text(), str(engine.image_id(rootfs)), *map(str, pythons.values()),
        *(resources.joinpath(f"constraints-python{v.replace('.', '')}.txt").read_text()
          for v in pythons),
    )
    tag = f"wheel-matrix/local-base:{digest}"
    if engine.image_id(tag) is not None:
        return tag
    with log.step(f"make the local base image {tag} (Pythons {', '.join(pythons)})"):
        context = work / "base-context"
        shutil.rmtree(context, ignore_errors=True)
        (context / "constraints").mkdir(parents=True)
        for version, exe in pythons.items():
            nodot = version.replace(".", "")
            _copy_python(exe.parent.parent, context / "python" / f"cp{nodot}-cp{nodot}")
            shutil.copyfile(
                resources / f"constraints-python{nodot}.txt",
                context / "constraints" / f"python{nodot}.txt",
            )
        shutil.copyfile(CA_BUNDLE, context / "ca-certificates.crt")
        _build(tag, context, dockerfile, {"ROOTFS": rootfs})
        shutil.rmtree(context)
        engine.remove_superseded(tag)
    return tag


def ensure_cuda(base: str, cuda: CudaSpec, work: Path) -> str:
    """The CUDA devel stand-in: nvcc from PyPI's wheels (CUDA versions that have them)."""
    dockerfile = TEMPLATES / "cuda.Dockerfile"
    tag = f"wheel-matrix/local-cuda:{cuda.version}-{_digest(dockerfile.read_text(), base)}"
    if engine.image_id(tag) is not None:
        return tag
    with log.step(f"make the local CUDA {cuda.version} image {tag} (nvcc from PyPI)"):
        context = work / "cuda-context"
        context.mkdir(parents=True, exist_ok=True)
        _build(tag, context, dockerfile, {
            "BASE": base,
            "CUDA_VERSION": cuda.version,
            "CUDA_MAJOR": cuda.version.split(".")[0],
        })
        engine.remove_superseded(tag)
    return tag


def prepare(spec: BuildSpec, cache: Path) -> LocalBase:
    """The base images (made on first use) and the wheelhouse for ``spec``'s cell."""
    pythons = tested_pythons(spec.cell)
    cuda = spec.cell.cuda
    if cuda is not None and not cuda.pypi_toolkit:
        raise UserError(
            f"--local-base has no CUDA {cuda.version} toolkit (PyPI's nvidia wheels carry "
            f"nvcc for CUDA 13 only): build {spec.cell.id} with the release images, on GitHub"
        )
    work = cache / "local-base"
    work.mkdir(parents=True, exist_ok=True)
    base = ensure_base(work)
    return LocalBase(
        base=base,
        cuda=ensure_cuda(base, cuda, work) if cuda else None,
        wheelhouse=prepare_wheelhouse(spec, pythons, cache),
        pythons=pythons,
    )


def tested_pythons(cell: Cell) -> tuple[str, ...]:
    """The cell's Pythons the local base carries: they build (abi3: once) and test the wheel."""
    found = tuple(v for v in TESTED_PYTHONS if v in cell.pythons)
    if not found:
        raise UserError(
            f"{cell.id} serves Python {', '.join(cell.pythons)}; the local base carries "
            f"{', '.join(TESTED_PYTHONS)}"
        )
    return found


def prepare_wheelhouse(spec: BuildSpec, pythons: Sequence[str], cache: Path) -> Path:
    """Everything pip installs inside the container, downloaded here beforehand.

    The compile runs with no network: before-build and before-test install the
    build tools and the cell's torch from this folder only.
    """
    requirements = [*spec.build_tools, *spec.torch_install]
    # Named by what it holds: cells that install the same torch share one.
    digest = _digest(*requirements, *pythons)
    folder = cache / "wheelhouses" / f"torch{spec.cell.torch.version}-{digest}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    # A second build needing the same wheelhouse waits for the first's download.
    with locks.exclusive(folder.parent / f".{folder.name}.lock", what="download of "
                         f"{folder.name}", timeout=3600):
        if not (folder / ".complete").is_file():
            _download(folder, requirements, pythons)
    return folder


def _download(folder: Path, requirements: Sequence[str], pythons: Sequence[str]) -> None:
    with log.step(f"download the wheelhouse {folder.name}: torch and the build tools for "
                  f"Python {', '.join(pythons)} (once; several GB)"):
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            for version in pythons:
                # Each interpreter's own pip, so that markers are evaluated for it.
                proc.run([
                    pyenv_python(version), "-m", "pip", "download", "--quiet",
                    "--disable-pip-version-check", "--only-binary=:all:", "-d", staging,
                    *requirements,
                ])
            (staging / ".complete").write_text("\n".join(requirements) + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
