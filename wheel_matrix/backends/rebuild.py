"""rebuild-check: build a wheel again from what it records, and compare the bytes.

The wheel's build information names a commit, a cell and an arch list. The
commit's tree is checked out in a scratch folder (a clone sharing the
repository's objects) and that tree's own service builds the cell there with
the host backend (or in the cell's build image, ``--backend docker``), so the
rebuild uses the commit's matrix, setup.py and tool pins, not today's. Then
the two wheels are compared: the same sha256, or the members that differ and
the tools whose versions differ.

Everything the check writes (a downloaded wheel, the checkout, the rebuilt
wheel) lives in one scratch folder that goes when it ends, however it ends;
the build itself uses the build cache like any build.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from wheel_matrix import log, proc
from wheel_matrix.backends import machine, provenance, source
from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import ToolError, UserError, shorten
from wheel_matrix.plan import find_cell
from wheel_matrix.wheel import build_info, facts, reproducible, store
from wheel_matrix.wheel.build_info import BuildInfo

MAX_DOWNLOAD = 8 << 30  # bigger than any wheel of the matrix, many times over
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class Outcome:
    wheel: str  # the file name
    sha256: str
    rebuilt_sha256: str
    members: tuple[str, ...]  # members that differ (empty: every file is the same)
    toolchain: tuple[str, ...]  # "tool ours != rebuild's" for each that differs
    kept: Path | None  # where the rebuilt wheel was kept, if asked

    @property
    def identical(self) -> bool:
        return self.sha256 == self.rebuilt_sha256


@contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="wheel-matrix-rebuild-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def is_url(text: str) -> bool:
    return text.lower().startswith(_URL_SCHEMES)


def fetch(where: str, folder: Path) -> Path:
    """``where`` as a local file: the path itself, or a URL downloaded into ``folder``."""
    if not is_url(where):
        path = Path(where)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise UserError(f"{shorten(where, 200, quote=False)} {what}")
        return path
    name = urllib.parse.unquote(urllib.parse.urlsplit(where).path.rsplit("/", 1)[-1])
    if not name.endswith(".whl") or "/" in name or name.startswith("."):
        raise UserError(f"{shorten(where, 200, quote=False)} does not name a wheel (.whl) file")
    path = folder / name
    with log.step(f"download {name}"):
        try:
            with urllib.request.urlopen(where, timeout=60) as response, path.open("wb") as out:
                size = 0
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise UserError(f"{shorten(where, 200, quote=False)} is more than "
                                        f"{log.format_size(MAX_DOWNLOAD)}: not a wheel of ours")
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise UserError(f"cannot download {shorten(where, 200, quote=False)}: HTTP {exc.code} "
                            f"{exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"cannot download {shorten(where, 200, quote=False)}: "
                            f"{shorten(str(reason), 120, quote=False)}") from None
    return path


def read_recorded(wheel: Path) -> BuildInfo:
    """The wheel's build information, once the wheel and what it records can be rebuilt."""
    wheel_facts = facts.read_wheel(wheel)  # a wheel at all: name, METADATA
    info = build_info.read(wheel)
    label = wheel_facts.label  # the cell the version names must be the one recorded
    if not info.cell.startswith(f"torch{label.torch}-{label.compute}-"):
        raise UserError(f"{wheel.name}: its version says {label}, its build information "
                        f"says cell {info.cell}")
    if info.commit is None:
        raise UserError(f"{wheel.name} records no commit: it was built outside a git "
                        "checkout, so there is nothing to rebuild it from")
    if info.dirty:
        raise UserError(f"{wheel.name} is a dirty build: it was built from a checkout with "
                        f"uncommitted changes on {info.commit[:12]}, which no commit holds")
    return info


def _local_toolchain_warnings(info: BuildInfo) -> None:
    """Say before a long build which recorded tools this machine has in another version."""
    tools = info.toolchain
    mine = {"auditwheel": metadata.version("auditwheel")}
    try:
        mine["compiler"] = provenance.host_compiler(os.environ)
    except ToolError:
        mine["compiler"] = "none"
    recorded = {"auditwheel": tools.auditwheel, "compiler": tools.compiler}
    for name, value in mine.items():
        if value != recorded[name]:
            log.warn(f"the wheel was built with {name} {recorded[name]}, this machine has "
                     f"{value}: the rebuild will differ")


def check(
    where: str,
    repository: Path,
    *,
    cache: Path | None = None,
    keep: Path | None = None,
    backend: tuple[str, ...] = ("--backend", "host"),
    python: str = sys.executable,
) -> Outcome:
    """Rebuild the wheel at ``where`` (a path or URL) from ``repository`` and compare."""
    with scratch() as folder:
        wheel = fetch(where, folder)
        info = read_recorded(wheel)
        assert info.commit is not None
        if not source.is_checkout(repository):
            raise UserError(f"{repository} is not a git checkout: pass --repo with a clone of "
                            "the project")
        if not source.has_commit(repository, info.commit):
            raise UserError(f"commit {info.commit[:12]} ({wheel.name}) is not in {repository}: "
                            "fetch it (git fetch) or pass --repo with a clone that has it")
        tree = folder / "source"
        with log.step(f"check out {info.commit[:12]}"):
            source.checkout(repository, info.commit, tree)
        try:
            matrix = matrix_file.load(tree / "matrix.yaml")
            cell = find_cell(matrix, info.cell)
        except UserError as exc:
            raise UserError(f"{wheel.name}: at commit {info.commit[:12]}: {exc}") from None
        here = machine.machine_arch()
        if cell.arch != here:
            raise UserError(f"{wheel.name} is for {cell.arch}; this machine is {here}")
        if "host" in backend:  # in an image, the image's tools build
            _local_toolchain_warnings(info)
        rebuilt = _rebuild(tree, info, folder / "dist", cache, backend, python)
        theirs = build_info.read(rebuilt)
        kept = None
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            kept = keep / rebuilt.name
            shutil.copyfile(rebuilt, kept)
        given, again = store.sha256_of(wheel), store.sha256_of(rebuilt)
        members = [] if given == again else reproducible.differences(
            wheel, rebuilt, ("given", "rebuilt")
        )
        return Outcome(
            wheel=wheel.name,
            sha256=given,
            rebuilt_sha256=again,
            members=tuple(members),
            toolchain=tuple(info.toolchain.differences(theirs.toolchain)),
            kept=kept,
        )


def _rebuild(tree: Path, info: BuildInfo, dist: Path, cache: Path | None,
             backend: tuple[str, ...], python: str) -> Path:
    """Build the recorded cell with ``tree``'s own service and the given backend arguments."""
    argv = [python, "-m", "wheel_matrix", "build", *backend, "--cell", info.cell,
            "--dist", str(dist)]
    if info.arch_list:
        argv += ["--arch-list", info.arch_list]
    if cache is not None:
        argv += ["--cache", str(cache)]
    # The tree's own matrix and the recorded arch list, not what this environment names
    # (empty reads as unset); the tree's commit gives SOURCE_DATE_EPOCH.
    env = {"WHEEL_MATRIX_FILE": "", "TORCH_CUDA_ARCH_LIST": "", "SOURCE_DATE_EPOCH": ""}

    def progress(line: str) -> None:
        # The build's own step lines, indented under this step.
        if line.startswith(("==>", "    ok", "    failed", "warning:")):
            log.info(f"    {line.rstrip()}")

    commit = (info.commit or "")[:12]
    with log.step(f"rebuild {info.cell} at {commit} ({' '.join(backend)})"):
        proc.run(argv, cwd=tree, env=env, on_line=progress)
    found = sorted((dist / "wheels").glob("*.whl"))
    if len(found) != 1:
        raise ToolError(f"the rebuild produced {len(found)} wheels, expected one")
    return found[0]
