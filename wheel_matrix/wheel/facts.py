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
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import parse_email
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from wheel_matrix.errors import UserError
from wheel_matrix.plan.label import Label, label_of_version


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


def _dist_info_metadata(archive: zipfile.ZipFile, path: Path) -> bytes:
    names = [
        n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
    ]
    if len(names) != 1:
        found = "no" if not names else f"{len(names)}"
        raise UserError(f"{path}: {found} .dist-info/METADATA file(s) in the wheel")
    return archive.read(names[0])


def read_wheel(path: Path) -> WheelFacts:
    """Read and cross-check one wheel; a UserError names the file and the fault."""
    name = path.name
    if not name.endswith(".whl"):
        raise UserError(f"{path}: not a wheel (the file name does not end in .whl)")
    try:
        project, file_version, _build, tags = parse_wheel_filename(name)
    except InvalidWheelFilename as exc:
        raise UserError(f"{path}: bad wheel file name: {exc}") from exc
    try:
        with zipfile.ZipFile(path) as archive:
            raw = _dist_info_metadata(archive, path)
            libraries = tuple(
                n for n in archive.namelist() if n.endswith(".so") or ".so." in n
            )
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{path}: not a readable wheel (zip) file: {exc}") from exc
    meta = parse_core_metadata(raw)
    if not meta.name or not meta.version:
        raise UserError(f"{path}: METADATA lacks a Name or Version field")
    if canonicalize_name(meta.name) != project:
        raise UserError(f"{path}: file name says project {project!r}, METADATA says {meta.name!r}")
    try:
        same_version = Version(meta.version) == file_version
    except InvalidVersion as exc:
        raise UserError(f"{path}: METADATA Version {meta.version!r} is not PEP 440") from exc
    if not same_version:
        raise UserError(
            f"{path}: file name says version {file_version}, METADATA says {meta.version}"
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
