"""Reading a finished wheel: its name, version, label, hashes and core metadata.

Everything the index says about a wheel comes from here, read from the bytes
of the file itself, so a page can never disagree with the file it links to.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from wheel_matrix.errors import UserError
from wheel_matrix.label import Label, label_of_version

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WheelInfo:
    """One wheel file as the index sees it."""

    path: Path
    filename: str
    project: NormalizedName
    version: str  # exactly as METADATA states it, local label included
    label: Label
    sha256: str
    size: int
    requires_python: str | None
    requires_dist: tuple[str, ...]
    metadata: bytes  # the raw METADATA file, served as PEP 658 ``.metadata``
    metadata_sha256: str

    @property
    def channel(self) -> str:
        return self.label.channel


def sha256_of_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def parse_metadata(raw: bytes) -> Message:
    return BytesParser().parsebytes(raw)


def read_metadata(path: Path) -> bytes:
    """The bytes of ``<name>.dist-info/METADATA`` inside the wheel at ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                found = "no" if not names else f"{len(names)}"
                raise UserError(f"{path}: {found} .dist-info/METADATA file(s) in the wheel")
            return archive.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{path}: not a readable wheel (zip) file: {exc}") from exc


def read_wheel(path: Path) -> WheelInfo:
    """Read and cross-check one wheel; a UserError names the file and the fault."""
    name = path.name
    if not name.endswith(".whl"):
        raise UserError(f"{path}: not a wheel (the file name does not end in .whl)")
    try:
        project, file_version, _build, _tags = parse_wheel_filename(name)
    except InvalidWheelFilename as exc:
        raise UserError(f"{path}: bad wheel file name: {exc}") from exc
    raw = read_metadata(path)
    meta = parse_metadata(raw)
    meta_name, meta_version = meta.get("Name"), meta.get("Version")
    if not meta_name or not meta_version:
        raise UserError(f"{path}: METADATA lacks a Name or Version field")
    if canonicalize_name(meta_name) != project:
        raise UserError(f"{path}: file name says project {project!r}, METADATA says {meta_name!r}")
    try:
        same_version = Version(meta_version) == file_version
    except InvalidVersion as exc:
        raise UserError(f"{path}: METADATA Version {meta_version!r} is not PEP 440") from exc
    if not same_version:
        raise UserError(
            f"{path}: file name says version {file_version}, METADATA says {meta_version}"
        )
    try:
        label = label_of_version(meta_version)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from exc
    sha256, size = sha256_of_file(path)
    return WheelInfo(
        path=path,
        filename=name,
        project=project,
        version=meta_version,
        label=label,
        sha256=sha256,
        size=size,
        requires_python=meta.get("Requires-Python"),
        requires_dist=tuple(meta.get_all("Requires-Dist") or ()),
        metadata=raw,
        metadata_sha256=hashlib.sha256(raw).hexdigest(),
    )
