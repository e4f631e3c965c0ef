"""Write small but valid wheels (PEP 427): METADATA and WHEEL, RECORD by ``wheel``'s WheelFile.

Used where the index needs a real wheel that isn't a build of the extension:
the stand-in ``torch`` that verify resolves against, the benchmark's
thousands of wheels, and the tests' inputs.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version
from wheel.wheelfile import WheelFile  # type: ignore[import-untyped]

# A fixed timestamp keeps the bytes (and so the sha256) reproducible.
_DATE = (1980, 1, 1, 0, 0, 0)
_EPOCH = 315532800  # the same instant, as SOURCE_DATE_EPOCH


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    dist = canonicalize_name(name).replace("-", "_")
    return f"{dist}-{Version(version)}-{tag}.whl"


def metadata_text(
    name: str,
    version: str,
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    summary: str = "",
    description: str = "",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    if description:
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + description


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    filename: str | None = None,
    description: str = "",
) -> Path:
    """Write the wheel into ``folder`` and return its path.

    ``files`` defaults to one module, ``<name>/__init__.py``, that records the
    version, so an install can be checked by importing it. ``filename``
    overrides the file name (to make deliberately inconsistent wheels).
    """
    dist = canonicalize_name(name).replace("-", "_")
    dist_info = f"{dist}-{Version(version)}.dist-info"
    if files is None:
        files = {f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    contents: dict[str, bytes] = dict(files)
    contents[f"{dist_info}/METADATA"] = metadata_text(
        name, version, requires_python, requires_dist, description=description
    ).encode()
    contents[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: wheel-matrix\nRoot-Is-Purelib: true\nTag: {tag}\n\n"
    ).encode()
    folder.mkdir(parents=True, exist_ok=True)
    # Written under its true name (WheelFile finds the .dist-info from it and adds a
    # hashed RECORD), then renamed when a deliberately inconsistent name is asked for.
    true_path = folder / wheel_filename(name, version, tag)
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(_EPOCH)  # RECORD's timestamp, like every member's
    try:
        with WheelFile(true_path, "w") as archive:
            for member, data in contents.items():
                info = zipfile.ZipInfo(member, date_time=_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous
    if filename is None:
        return true_path
    path = folder / filename
    true_path.replace(path)
    return path
