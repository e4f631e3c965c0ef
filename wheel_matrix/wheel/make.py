"""Write small but valid wheels (PEP 427): METADATA, WHEEL and a hashed RECORD.

Used where the index needs a real wheel that isn't a build of the extension:
the stand-in ``torch`` that verify resolves against, the benchmark's
thousands of wheels, and the tests' inputs.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

# A fixed timestamp keeps the bytes (and so the sha256) reproducible.
_DATE = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


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
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in contents.items()]
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or wheel_filename(name, version, tag))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in contents.items():
            info = zipfile.ZipInfo(member, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path
