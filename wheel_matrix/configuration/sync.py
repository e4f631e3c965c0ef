"""``sync-torch``: keep matrix.yaml up with torch's releases, read from the package index.

What PyPI (or whichever index pip is configured with) says about each torch
release is read from its simple API (PEP 691 JSON or PEP 503 HTML) and each
release's core metadata: PEP 658 ``.metadata`` where the index offers it,
otherwise HTTP range requests into one wheel's zip directory, so no wheel is
ever downloaded. From them come the version, requires-python, the Pythons of
its Linux wheels, their manylinux baseline, and the CUDA version of PyPI's
own wheel (its ``cuda-toolkit`` / ``nvidia-*`` pins).

Which CUDA versions PyTorch's *own* index builds a release for is not on
PyPI: it comes from a small data file (pytorch-builds.yaml). A new minor that
file doesn't know yet still gets its CPU cells and the cells of its PyPI
CUDA version, with a warning that names the file.

Plan, then apply: ``plan_sync`` is pure (matrix + releases in, edits out);
``apply_sync`` edits matrix.yaml in place, keeping its comments and order.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from wheel_matrix import log
from wheel_matrix.configuration.matrix_file import Matrix
from wheel_matrix.errors import ConfigError, UserError, shorten

PYPI = "https://pypi.org/simple/"
DEFAULT_BUILDS = Path(__file__).resolve().parents[2] / "pytorch-builds.yaml"
_TOOLKIT_PIN = re.compile(r"^(\d+)\.(\d+)\.\d+")
# nvidia-cuda-runtime-cu12==12.8.90, nvidia-cuda-runtime==13.0.96, cuda-toolkit[...]==13.2.2
_CUDA_PACKAGES = ("cuda-toolkit", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12",
                  "nvidia-cuda-runtime-cu11", "nvidia-cuda-runtime-cu13")


@dataclass(frozen=True)
class UpstreamRelease:
    """What the index says about one torch release."""

    version: str  # "2.15.0"
    requires_python: str | None
    pythons: tuple[str, ...]  # from the cpXY tags of its Linux wheels (free-threaded left out)
    cuda: str | None  # the CUDA of its Linux x86_64 wheel; None for a CPU-only wheel
    toolkit: str | None  # the CUDA toolkit release it pins (cuda-toolkit==13.2.2), if any
    manylinux: str  # glibc baseline of its Linux wheels, "2_28"

    @property
    def minor(self) -> str:
        v = Version(self.version)
        return f"{v.major}.{v.minor}"


@dataclass(frozen=True)
class NewCuda:
    version: str
    toolkit: str
    image: str
    arch_list: str
    pypi_toolkit: bool


@dataclass(frozen=True)
class Update:
    """A fact of a known torch minor that the index says otherwise (the index wins)."""

    minor: str
    key: str  # version, python, cuda (PyTorch's index: pytorch-builds.yaml), pypi_cuda, manylinux
    old: str | tuple[str, ...] | None
    new: str | tuple[str, ...] | None

    @staticmethod
    def show(value: str | tuple[str, ...] | None) -> str:
        if isinstance(value, tuple):
            return "[" + ", ".join(value) + "]"
        return "none" if value is None else value


@dataclass
class SyncPlan:
    """The edits that bring a matrix up to the index's releases."""

    new: list[tuple[UpstreamRelease, tuple[str, ...]]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    cuda: list[NewCuda] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updates or self.cuda)

    def describe(self) -> list[str]:
        lines = [
            f"torch {u.minor}: {u.key} {u.show(u.old)} -> {u.show(u.new)}" for u in self.updates
        ]
        for release, cuda in self.new:
            pypi = f"CUDA {release.cuda}" if release.cuda else "CPU"
            lines.append(
                f"torch {release.minor}: new, {release.version} (Python "
                f"{', '.join(release.pythons)}; CUDA {', '.join(cuda) or 'none'}; PyPI's wheel: "
                f"{pypi}; manylinux_{release.manylinux})"
            )
        lines += [f"CUDA {c.version}: new, toolkit {c.toolkit}, image {c.image}" for c in self.cuda]
        return lines


# --- where the index is -------------------------------------------------------------------------


def configured_index() -> str:
    """The index pip is configured with: $PIP_INDEX_URL, pip's config files, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return PYPI
    found: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        found[key.strip()] = value.strip().strip("'\"")
    for key in (":env:.index-url", "install.index-url", "global.index-url"):
        if found.get(key):
            return found[key]
    return PYPI


# --- reading the index --------------------------------------------------------------------------


class _RangeFile(io.RawIOBase):
    """A remote file read through HTTP range requests, so zipfile can read one member."""

    BLOCK = 1 << 16

    def __init__(self, url: str) -> None:
        self.url = url
        self.pos = 0
        self.blocks: dict[int, bytes] = {}
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=60) as response:
            self.size = int(response.headers["Content-Length"])
            if response.headers.get("Accept-Ranges", "").lower() != "bytes":
                raise UserError(f"{url}: the server takes no range requests and offers no "
                                "PEP 658 metadata; reading it would mean downloading the wheel")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def _block(self, index: int) -> bytes:
        if index not in self.blocks:
            start = index * self.BLOCK
            end = min(self.size, start + self.BLOCK) - 1
            request = urllib.request.Request(self.url, headers={"Range": f"bytes={start}-{end}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                self.blocks[index] = response.read()
        return self.blocks[index]

    def read(self, size: int = -1) -> bytes:
        end = self.size if size < 0 else min(self.size, self.pos + size)
        out = bytearray()
        while self.pos < end:
            block = self._block(self.pos // self.BLOCK)
            offset = self.pos % self.BLOCK
            chunk = block[offset : offset + (end - self.pos)]
            if not chunk:
                break
            out += chunk
            self.pos += len(chunk)
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _metadata_by_ranges(url: str) -> bytes:
    with zipfile.ZipFile(_RangeFile(url)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise UserError(f"{url}: no single .dist-info/METADATA in the wheel")
        return archive.read(names[0])


def _pythons(tags: Iterable[Any]) -> tuple[str, ...]:
    found = set()
    for tag in tags:
        match = re.match(r"^cp3(\d+)$", tag.interpreter)
        # cp314t is free-threaded: an abi3 extension cannot serve it.
        if match and tag.abi == tag.interpreter:
            found.add(f"3.{match[1]}")
    return tuple(sorted(found, key=lambda p: int(p.split(".")[1])))


def cuda_of(requires_dist: Iterable[str]) -> tuple[str | None, str | None]:
    """(CUDA major.minor, pinned toolkit release) from a torch wheel's Requires-Dist."""
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) not in _CUDA_PACKAGES:
            continue
        for spec in req.specifier:
            match = _TOOLKIT_PIN.match(spec.version)
            if spec.operator == "==" and match:
                toolkit = spec.version if canonicalize_name(req.name) == "cuda-toolkit" else None
                return f"{match[1]}.{match[2]}", toolkit
    return None, None


def read_releases(index_url: str, oldest_minor: str, project: str = "torch") -> list[
    UpstreamRelease
]:
    """The newest final release of every torch minor from ``oldest_minor`` on, oldest first."""
    from pypi_simple import NoSuchProjectError, PyPISimple

    with log.step(f"read {project}'s releases from {index_url}"):
        try:
            with PyPISimple(endpoint=index_url) as client:
                page = client.get_project_page(project)
                by_minor: dict[tuple[int, int], dict[Version, list[Any]]] = {}
                for package in page.packages:
                    if package.package_type != "wheel" or package.is_yanked:
                        continue
                    try:
                        _, version, _, tags = parse_wheel_filename(package.filename)
                    except (InvalidWheelFilename, InvalidVersion):
                        continue
                    if version.is_prerelease or version.is_devrelease or version.local:
                        continue
                    if (version.major, version.minor) < _minor_tuple(oldest_minor):
                        continue
                    minor = by_minor.setdefault((version.major, version.minor), {})
                    minor.setdefault(version, []).append((package, tags))
                releases = [
                    _release(client, version, files)
                    for _, versions in sorted(by_minor.items())
                    for version, files in [max(versions.items())]
                ]
        except NoSuchProjectError as exc:
            raise UserError(f"{index_url}: no project {project!r} there") from exc
        except OSError as exc:
            raise UserError(f"{index_url}: cannot read the index: {exc}") from exc
    return [r for r in releases if r is not None]


def _release(client: Any, version: Version, files: list[Any]) -> UpstreamRelease | None:
    linux = [(p, t) for p, t in files if any("linux" in tag.platform for tag in t)]
    x86 = [(p, t) for p, t in linux if any(tag.platform.endswith("x86_64") for tag in t)]
    if not x86:
        return None
    package, _ = x86[0]
    if package.has_metadata:
        raw = client.get_package_metadata(package).encode()
    else:
        raw = _metadata_by_ranges(package.url)
    meta = HeaderParser().parsestr(raw.decode("utf-8", errors="replace"))
    cuda, toolkit = cuda_of(meta.get_all("Requires-Dist") or [])
    glibc = [
        tuple(int(x) for x in m.groups())
        for _, tags in linux
        for tag in tags
        if (m := re.match(r"^manylinux_(\d+)_(\d+)_", tag.platform))
    ]
    return UpstreamRelease(
        version=str(version),
        requires_python=meta.get("Requires-Python") or package.requires_python,
        pythons=_pythons(tag for _, tags in linux for tag in tags),
        cuda=cuda,
        toolkit=toolkit,
        manylinux="_".join(map(str, min(glibc))) if glibc else "2_28",
    )


def oldest_minor(matrix: Matrix) -> str:
    """Releases older than the matrix's oldest torch are not read (they were dropped)."""
    return min(matrix.torch, key=_minor_tuple)


def _minor_tuple(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


# --- deciding the edits -------------------------------------------------------------------------


def load_builds(path: Path) -> dict[str, tuple[str, ...]]:
    """pytorch-builds.yaml: torch minor -> the CUDA versions PyTorch's own index builds it for."""
    from wheel_matrix.configuration import strict_yaml

    data = strict_yaml.load(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a mapping of torch minor -> CUDA versions")
    out: dict[str, tuple[str, ...]] = {}
    minor_pattern = re.compile(r"\d{1,4}\.\d{1,4}", re.ASCII)
    for minor, cuda in data.items():
        if not isinstance(minor, str) or not minor_pattern.fullmatch(minor):
            raise ConfigError(
                path, shorten(minor, 40), 'keys are quoted torch minors such as "2.15"'
            )
        if not isinstance(cuda, list) or not all(
            isinstance(c, str) and minor_pattern.fullmatch(c) for c in cuda
        ):
            raise ConfigError(path, f'"{minor}"', 'expected a list such as ["12.6", "13.0"]')
        out[minor] = tuple(cuda)
    return out


def _new_cuda(matrix: Matrix, version: str, toolkit: str) -> NewCuda:
    """A cuda: entry for a version the matrix lacks, patterned on its newest of the same major."""
    major = version.split(".")[0]
    same = [c for v, c in matrix.cuda.items() if v.split(".")[0] == major]
    if not same:
        raise UserError(
            f"CUDA {version} is new and matrix.yaml has no CUDA {major}.x entry to pattern "
            f"it on: add a cuda: \"{version}\" entry by hand"
        )
    pattern = max(same, key=lambda c: _minor_tuple(c.version))
    return NewCuda(
        version=version,
        toolkit=toolkit,
        image=pattern.image.replace(pattern.toolkit, toolkit),
        arch_list=pattern.arch_list,
        pypi_toolkit=pattern.pypi_toolkit,
    )


def plan_sync(
    matrix: Matrix,
    releases: Sequence[UpstreamRelease],
    builds: Mapping[str, Sequence[str]],
    builds_file: str = "pytorch-builds.yaml",
) -> SyncPlan:
    """The edits that add new torch minors and bump known ones to their newest patch."""
    plan = SyncPlan()
    newest_known = max((_minor_tuple(m) for m in matrix.torch), default=(0, 0))
    known_cuda = set(matrix.cuda)
    for release in releases:
        current = matrix.torch.get(release.minor)
        if current is not None:
            # PyPI's facts about a known minor: a new patch, and what its wheels say.
            if Version(release.version) > Version(current.version):
                plan.updates.append(Update(release.minor, "version", current.version,
                                           release.version))
            for key, old, new in (
                ("python", current.python, release.pythons),
                ("pypi_cuda", current.pypi_cuda, release.cuda),
                ("manylinux", current.manylinux, release.manylinux),
            ):
                if old != new:
                    plan.updates.append(Update(release.minor, key, old, new))
            listed = tuple(c for c in builds.get(release.minor, current.cuda) if c in known_cuda)
            if builds.get(release.minor) is not None and set(listed) != set(current.cuda):
                plan.updates.append(Update(release.minor, "cuda", current.cuda, listed))
            continue
        if _minor_tuple(release.minor) < newest_known:
            continue  # a minor the matrix dropped on purpose stays dropped
        if release.cuda is not None and release.cuda not in known_cuda:
            toolkit = release.toolkit or f"{release.cuda}.0"
            plan.cuda.append(_new_cuda(matrix, release.cuda, toolkit))
            known_cuda.add(release.cuda)
        named = builds.get(release.minor)
        if named is None:
            plan.warnings.append(
                f"torch {release.minor}: {builds_file} doesn't say which CUDA versions PyTorch's "
                f"index builds it for; only its PyPI wheel's "
                f"{'CUDA ' + release.cuda if release.cuda else 'CPU build'} is added (add "
                f'"{release.minor}": [...] to {builds_file} and sync again for the rest)'
            )
        listed = tuple(named) if named is not None else ((release.cuda,) if release.cuda else ())
        cuda = tuple(c for c in listed if c in known_cuda)
        for missing in (c for c in listed if c not in known_cuda):
            plan.warnings.append(
                f"torch {release.minor}: CUDA {missing} ({builds_file}) has no cuda: entry in "
                f"{matrix.source.name}; left out"
            )
        if release.cuda and release.cuda not in cuda:
            cuda = (*cuda, release.cuda)
        plan.new.append((release, tuple(sorted(cuda, key=_minor_tuple))))
    return plan


# --- applying them ------------------------------------------------------------------------------


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _flow(items: Sequence[str]) -> Any:
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    seq = CommentedSeq([DoubleQuotedScalarString(i) for i in items])
    seq.fa.set_flow_style()
    return seq


def _last(node: Any) -> tuple[Any, Any]:
    """The innermost mapping that ends ``node``, and its last key."""
    from ruamel.yaml.comments import CommentedMap

    key = list(node)[-1]
    while isinstance(node[key], CommentedMap) and len(node[key]):
        node = node[key]
        key = list(node)[-1]
    return node, key


def _append(mapping: Any, key: Any, value: Any) -> None:
    """Add ``key`` at the end of ``mapping``, keeping the comment block that followed it.

    ruamel hangs the comments before the next top-level key on the last value
    they follow; they must keep following the mapping, not sit above the new key.
    """
    holder, last = _last(mapping)
    carried = holder.ca.items.pop(last, None)
    mapping[key] = value
    if carried is not None and carried[2] is not None:
        target, target_key = _last(mapping)
        target.ca.items[target_key] = [None, None, carried[2], None]


def apply_sync(path: Path, plan: SyncPlan) -> None:
    """Edit matrix.yaml in place: comments, order and quoting of everything else are kept."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Q

    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    for update in plan.updates:
        entry = data["torch"][update.minor]
        if isinstance(update.new, tuple):
            entry[update.key] = _flow(update.new)
        elif update.new is None:
            del entry[update.key]
        elif update.key == "version":
            entry[update.key] = type(entry[update.key])(update.new)
        else:
            entry[update.key] = Q(update.new)
    for spec in plan.cuda:
        entry = CommentedMap()
        entry["toolkit"] = spec.toolkit
        entry["image"] = spec.image
        entry["arch_list"] = Q(spec.arch_list)
        entry["pypi_toolkit"] = spec.pypi_toolkit
        _append(data["cuda"], Q(spec.version), entry)
        data["axes"]["compute"].append(Q(spec.version))
    for release, cuda in plan.new:
        entry = CommentedMap()
        entry["version"] = release.version
        entry["python"] = _flow(release.pythons)
        entry["cuda"] = _flow(cuda)
        if release.cuda:
            entry["pypi_cuda"] = Q(release.cuda)
        entry["manylinux"] = Q(release.manylinux)
        _append(data["torch"], Q(release.minor), entry)
        data["axes"]["torch"].append(Q(release.minor))
    out = io.StringIO()
    yaml.dump(data, out)
    staged = path.with_name(f".{path.name}.sync")
    staged.write_text(out.getvalue(), encoding="utf-8")
    os.replace(staged, path)  # never a half-written matrix.yaml
