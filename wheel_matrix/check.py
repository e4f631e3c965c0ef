"""Checks every finished wheel must pass before it enters the wheel store.

Cheap and local: the name, METADATA and tags agree with the cell; the torch
pin is there; the compiled library uses no CPython symbols (so the abi3 tag
is honest); and twine accepts the metadata.
"""

from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from wheel_matrix import proc
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell

# Symbols an extension only has if it calls into libpython.
_CPYTHON_PREFIXES = ("Py", "_Py")


@dataclass(frozen=True)
class WheelFacts:
    path: Path
    version: str
    requires: tuple[str, ...]
    tags: tuple[str, ...]
    libraries: tuple[str, ...]  # compiled members
    cpython_symbols: tuple[str, ...]
    needed: tuple[str, ...]  # DT_NEEDED entries of the compiled members


def read_metadata(wheel: zipfile.ZipFile) -> dict[str, list[str]]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    message = HeaderParser().parsestr(wheel.read(name).decode("utf-8"))
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields


def _elf_facts(data: bytes) -> tuple[list[str], list[str]]:
    """Undefined dynamic symbols and DT_NEEDED entries of one shared library."""
    elf = ELFFile(io.BytesIO(data))
    undefined: list[str] = []
    needed: list[str] = []
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is not None:
        for sym in dynsym.iter_symbols():  # type: ignore[attr-defined]
            if sym["st_shndx"] == "SHN_UNDEF" and sym.name:
                undefined.append(sym.name)
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed += [str(t.needed) for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]  # type: ignore[attr-defined]
    return undefined, needed


def inspect(path: Path) -> WheelFacts:
    with zipfile.ZipFile(path) as wheel:
        meta = read_metadata(wheel)
        libraries = [n for n in wheel.namelist() if n.endswith(".so") or ".so." in n]
        cpython: list[str] = []
        needed: list[str] = []
        for member in libraries:
            undefined, deps = _elf_facts(wheel.read(member))
            cpython += [s for s in undefined if s.startswith(_CPYTHON_PREFIXES)]
            needed += deps
        wheel_info = next(n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL"))
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read(wheel_info).decode().splitlines()
            if line.startswith("Tag:")
        ]
    return WheelFacts(
        path=path,
        version=meta.get("Version", [""])[0],
        requires=tuple(meta.get("Requires-Dist", [])),
        tags=tuple(tags),
        libraries=tuple(libraries),
        cpython_symbols=tuple(sorted(set(cpython))),
        needed=tuple(sorted(set(needed))),
    )


def check_wheel(path: Path, cell: Cell) -> WheelFacts:
    """Raise UserError naming every way ``path`` disagrees with ``cell``."""
    facts = inspect(path)
    _, file_version, _, file_tags = parse_wheel_filename(path.name)
    faults: list[str] = []
    if str(file_version) != facts.version:
        faults.append(f"file name says {file_version}, METADATA says {facts.version}")
    if Version(facts.version) != Version(cell.version):
        faults.append(f"version is {facts.version}, the cell needs {cell.version}")
    pins = [r for r in facts.requires if r.replace(" ", "").startswith("torch==")]
    if [p.replace(" ", "") for p in pins] != [cell.torch_requirement]:
        faults.append(
            f"Requires-Dist pins {pins or 'no torch'}, the cell needs {cell.torch_requirement}"
        )
    if not facts.libraries:
        faults.append("holds no compiled library")
    if facts.cpython_symbols:
        shown = ", ".join(facts.cpython_symbols[:5])
        faults.append(f"uses the CPython API ({shown}), so it cannot be abi3")
    abi_tags = {t.abi for t in file_tags}
    if abi_tags != {"abi3"}:
        faults.append(f"ABI tag is {', '.join(sorted(abi_tags))}, expected abi3")
    platforms = {t.platform for t in file_tags}
    if not all(p.startswith("manylinux_") and p.endswith(cell.arch) for p in platforms):
        faults.append(f"platform tag {', '.join(sorted(platforms))} is not manylinux/{cell.arch}")
    if faults:
        raise UserError(f"{path.name}: " + "; ".join(faults))
    proc.run([sys.executable, "-m", "twine", "check", "--strict", path], quiet=True)
    return facts
