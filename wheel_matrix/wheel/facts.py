"""The facts of a wheel file, read from its bytes: one reader for the checks and the index.

Name, version and tags from the file name; Name, Version, Requires-Python
and Requires-Dist from its core metadata (``packaging.metadata``), which must
agree with the name; the sha256 of the file and of its METADATA (served as
PEP 658 ``.metadata``); and the compiled libraries it holds. Everything the
index says about a wheel comes from here, so a page can never disagree with
the file it links to.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import parse_email
from packaging.tags import Tag
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from wheel_matrix.errors import UserError, shorten
from wheel_matrix.plan.label import Label, label_of_version

# A METADATA file is a few kilobytes; it is read whole and served as PEP 658 .metadata.
MAX_METADATA = 1 << 20
# PEP 508 names: ASCII letters, digits and ._- (so no look-alike of another project's name).
_NAME = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", re.ASCII)
# What reading a damaged or hostile zip can raise, besides BadZipFile.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,  # a compression method this Python lacks
    RuntimeError,  # an encrypted member
    ValueError,
)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class WheelFacts:
    path: Path
    filename: str
    project: NormalizedName
    version: str  # exactly as METADATA states it, local label included
    tags: frozenset[Tag]  # from the file name
    sha256: str
    size: int
    requires_python: str | None
    requires_dist: tuple[str, ...]
    metadata: bytes  # the raw METADATA file
    metadata_sha256: str
    libraries: tuple[str, ...]  # compiled members (.so)

    @property
    def label(self) -> Label:
        """The cell the wheel was built for (a UserError if it carries no build label)."""
        try:
            return label_of_version(self.version)
        except UserError as exc:
            raise UserError(f"{self.path}: {exc}") from None

    @property
    def channel(self) -> str:
        return self.label.channel


@dataclass(frozen=True)
class CoreMetadata:
    name: str | None
    version: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]


def parse_core_metadata(raw: bytes) -> CoreMetadata:
    """The fields of a METADATA file this service reads (``packaging``'s parser)."""
    fields, _unparsed = parse_email(raw)
    return CoreMetadata(
        name=fields.get("name"),
        version=fields.get("version"),
        requires_python=fields.get("requires_python"),
        requires_dist=tuple(fields.get("requires_dist", ())),
    )


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a wheel must not hold this member (an installer would write outside its target)."""
    name = info.filename
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if "\\" in name or "\0" in name:
        return "a backslash or NUL in its name"
    if ".." in name.split("/"):
        return "a path with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def dist_info_metadata(archive: zipfile.ZipFile, path: Path | str) -> bytes:
    """The wheel's METADATA, bounded; a UserError for members an installer must not write."""
    seen: set[str] = set()
    for info in archive.infolist():
        problem = member_problem(info)
        if problem:
            raise UserError(f"{path}: member {shorten(info.filename)} is {problem}")
        if info.filename in seen:
            raise UserError(f"{path}: member {shorten(info.filename)} is in the zip twice")
        seen.add(info.filename)
    found = [
        i
        for i in archive.infolist()
        if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
    ]
    if len(found) != 1:
        count = "no" if not found else f"{len(found)}"
        raise UserError(f"{path}: {count} .dist-info/METADATA file(s) in the wheel")
    info = found[0]
    # Checked from the size the zip declares, then while reading: no more is ever read.
    if info.file_size > MAX_METADATA:
        raise UserError(
            f"{path}: {info.filename} is {info.file_size} bytes, more than the "
            f"{MAX_METADATA} allowed"
        )
    with archive.open(info) as member:
        raw = member.read(MAX_METADATA + 1)
    if len(raw) > MAX_METADATA:
        raise UserError(f"{path}: {info.filename} is more than the {MAX_METADATA} bytes allowed")
    return raw


def read_wheel(path: Path) -> WheelFacts:
    """Read and cross-check one wheel; a UserError names the file and the fault."""
    name = path.name
    if not name.endswith(".whl"):
        raise UserError(f"{path}: not a wheel (the file name does not end in .whl)")
    try:
        project, file_version, _build, tags = parse_wheel_filename(name)
    except ValueError as exc:  # InvalidWheelFilename, InvalidVersion, a number too long
        reason = shorten(str(exc), 200, quote=False)
        raise UserError(f"{path}: bad wheel file name: {reason}") from None
    # One spelling per version: 1.7.0+CU130TORCH2.14 would be published beside
    # 1.7.0+cu130torch2.14 as another file of the same version.
    canonical = f"{project.replace('-', '_')}-{file_version}-"
    if not name.startswith(canonical):
        raise UserError(f"{path}: not a normalised wheel file name (it starts {canonical!r} then)")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = dist_info_metadata(archive, path)
            libraries = tuple(
                n for n in archive.namelist() if n.endswith(".so") or ".so." in n
            )
    except ZIP_ERRORS as exc:
        reason = shorten(str(exc), 200, quote=False)
        raise UserError(f"{path}: not a readable wheel (zip) file: {reason}") from None
    meta = parse_core_metadata(raw)
    if not meta.name or not meta.version:
        raise UserError(f"{path}: METADATA lacks a Name or Version field")
    if not _NAME.fullmatch(meta.name):
        raise UserError(f"{path}: METADATA Name {shorten(meta.name)} is not a valid project name")
    if canonicalize_name(meta.name) != project:
        raise UserError(
            f"{path}: file name says project {project!r}, METADATA says {shorten(meta.name)}"
        )
    try:
        version = Version(meta.version)
    except ValueError:  # InvalidVersion, or a number too long to read
        shown = shorten(meta.version)
        raise UserError(f"{path}: METADATA Version {shown} is not PEP 440") from None
    if version != file_version:
        raise UserError(
            f"{path}: file name says version {file_version}, METADATA says "
            f"{shorten(meta.version, quote=False)}"
        )
    if meta.version != str(version):
        raise UserError(
            f"{path}: METADATA Version {shorten(meta.version)} is not normalised ({version})"
        )
    return WheelFacts(
        path=path,
        filename=name,
        project=project,
        version=meta.version,
        tags=tags,
        sha256=sha256_of(path),
        size=path.stat().st_size,
        requires_python=meta.requires_python,
        requires_dist=meta.requires_dist,
        metadata=raw,
        metadata_sha256=hashlib.sha256(raw).hexdigest(),
        libraries=libraries,
    )
