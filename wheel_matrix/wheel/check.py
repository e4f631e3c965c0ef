"""Checks every finished wheel must pass before it enters the wheel store.

Cheap and local: the name, METADATA and tags agree with the cell; the torch
pin is there; abi3audit finds no symbol outside the stable ABI (so the abi3
tag is honest); and twine accepts the metadata.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from packaging.version import Version

from wheel_matrix import log, proc
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell
from wheel_matrix.wheel.facts import WheelFacts, read_wheel


def non_abi3_symbols(path: Path) -> tuple[str, ...]:
    """What abi3audit finds in the wheel's libraries that the stable ABI doesn't have."""
    # abi3audit exits 1 when it finds violations; the report says which.
    argv: list[str | Path] = [sys.executable, "-m", "abi3audit", "--report", path]
    out = proc.run(argv, capture=True, quiet=True, ok_codes=(0, 1))
    found: set[str] = set()
    for spec in json.loads(out)["specs"].values():
        for library in spec.get("wheel", []):
            found.update(str(s) for s in library["result"]["non_abi3_symbols"])
    return tuple(sorted(found))


def glibc_beyond_torch(facts: WheelFacts, cell: Cell) -> str | None:
    """Why the wheel can't go wherever torch's own wheels go (a newer glibc), or None."""
    baseline = tuple(int(x) for x in cell.torch.manylinux.split("_"))
    for tag in facts.tags:
        match = re.match(r"^manylinux_(\d+)_(\d+)_", tag.platform)
        if match and (int(match[1]), int(match[2])) > baseline:
            return (
                f"needs glibc {match[1]}.{match[2]}, newer than torch {cell.torch.minor}'s own "
                f"wheels (manylinux_{cell.torch.manylinux})"
            )
    return None


def check_wheel(path: Path, cell: Cell, *, release: bool = False) -> WheelFacts:
    """Raise UserError naming every way ``path`` disagrees with ``cell``.

    A wheel that needs a newer glibc than torch's own is fine for the machine
    that built it; with ``release`` (the release images) it is a fault.
    """
    facts = read_wheel(path)
    faults: list[str] = []
    if Version(facts.version) != Version(cell.version):
        faults.append(f"version is {facts.version}, the cell needs {cell.version}")
    pins = [r for r in facts.requires_dist if r.replace(" ", "").startswith("torch==")]
    if [p.replace(" ", "") for p in pins] != [cell.torch_requirement]:
        faults.append(
            f"Requires-Dist pins {pins or 'no torch'}, the cell needs {cell.torch_requirement}"
        )
    if not facts.libraries:
        faults.append("holds no compiled library")
    abi_tags = {t.abi for t in facts.tags}
    if abi_tags != {"abi3"}:
        faults.append(f"ABI tag is {', '.join(sorted(abi_tags))}, expected abi3")
    elif facts.libraries:
        symbols = non_abi3_symbols(path)
        if symbols:
            faults.append(f"uses CPython symbols outside the stable ABI ({', '.join(symbols[:5])})")
    platforms = {t.platform for t in facts.tags}
    if not all(p.startswith("manylinux_") and p.endswith(cell.arch) for p in platforms):
        faults.append(f"platform tag {', '.join(sorted(platforms))} is not manylinux/{cell.arch}")
    too_new = glibc_beyond_torch(facts, cell)
    if too_new and release:
        faults.append(too_new)
    elif too_new:
        log.warn(f"{path.name} {too_new}: fine on this machine, not for publishing")
    if faults:
        raise UserError(f"{path.name}: " + "; ".join(faults))
    proc.run([sys.executable, "-m", "twine", "check", "--strict", path], quiet=True)
    return facts
