"""The build information a wheel carries: what a rebuild needs to make the same bytes.

``<name>.dist-info/build-info.json`` records the source commit (and its
date, SOURCE_DATE_EPOCH), the cell, the GPU arch list and the versions of the
tools that shaped the files: the C++ compiler, nvcc, torch, setuptools and
auditwheel. Nothing in it depends on where, when or by whom the wheel was
built (no paths, times, host names or backend), so two builds of one cell
and commit carry the same file, and a rebuild reads from it what to build
and with what. (The zlib that compresses the archive is not named: it shapes
no file, and classic zlib releases compress alike; rebuild-check tells when
only the packing differs.)
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wheel_matrix.errors import UserError, shorten
from wheel_matrix.wheel.facts import ZIP_ERRORS

NAME = "build-info.json"
FORMAT = 1
MAX_SIZE = 64 << 10  # a few hundred bytes in practice; a bigger one is not ours
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_CELL = re.compile(r"torch\d+\.\d+-[a-z0-9]+-[a-z0-9_]+", re.ASCII)
_TEXT = re.compile(r"[ -~]{1,200}")  # printable ASCII: a version or a compiler's banner


@dataclass(frozen=True)
class Toolchain:
    compiler: str  # first line of `c++ --version`
    nvcc: str | None  # "13.2.78"; None for CPU cells
    torch: str
    setuptools: str
    auditwheel: str

    def differences(self, other: Toolchain) -> list[str]:
        """``name: ours != theirs`` for each tool whose version differs."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k} {mine[k]} != {theirs[k]}" for k in mine if mine[k] != theirs[k]]


@dataclass(frozen=True)
class BuildInfo:
    cell: str
    arch_list: str  # TORCH_CUDA_ARCH_LIST; "" for CPU cells
    commit: str | None  # None: not built from a git checkout
    source_date_epoch: int  # the commit's date: every timestamp in the wheel
    dirty: bool  # the checkout had changes the commit lacks
    toolchain: Toolchain

    def to_json(self) -> bytes:
        record = {
            "format": FORMAT,
            "cell": self.cell,
            "arch_list": self.arch_list,
            "source": {
                "commit": self.commit,
                "date": self.source_date_epoch,
                "dirty": self.dirty,
            },
            "toolchain": asdict(self.toolchain),
        }
        return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


def from_json(raw: bytes, where: str) -> BuildInfo:
    """Parse ``raw``; a UserError naming ``where`` and the first bad field."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UserError(f"{where}: {NAME} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{where}: {NAME} is not build information of format {FORMAT}")
    source, tools = data.get("source"), data.get("toolchain")
    if not isinstance(source, dict) or not isinstance(tools, dict):
        raise UserError(f"{where}: {NAME} lacks its source or toolchain")

    def text(value: Any, key: str, pattern: re.Pattern[str] = _TEXT, empty: bool = False) -> str:
        if isinstance(value, str) and ((empty and value == "") or pattern.fullmatch(value)):
            return value
        raise UserError(f"{where}: {NAME} has a bad {key}: {shorten(value)}")

    commit = source.get("commit")
    epoch = source.get("date")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 1 << 40:
        raise UserError(f"{where}: {NAME} has a bad source date: {shorten(epoch)}")
    if not isinstance(source.get("dirty"), bool):
        raise UserError(f"{where}: {NAME} has a bad dirty flag: {shorten(source.get('dirty'))}")
    nvcc = tools.get("nvcc")
    return BuildInfo(
        cell=text(data.get("cell"), "cell", _CELL),
        arch_list=text(data.get("arch_list"), "arch list", empty=True),
        commit=None if commit is None else text(commit, "commit", _COMMIT),
        source_date_epoch=epoch,
        dirty=source["dirty"],
        toolchain=Toolchain(
            compiler=text(tools.get("compiler"), "compiler"),
            nvcc=None if nvcc is None else text(nvcc, "nvcc"),
            torch=text(tools.get("torch"), "torch"),
            setuptools=text(tools.get("setuptools"), "setuptools"),
            auditwheel=text(tools.get("auditwheel"), "auditwheel"),
        ),
    )


def member_name(names: list[str]) -> str | None:
    """The build information's member among a wheel's ``names``, if it has one."""
    found = [n for n in names if n.count("/") == 1 and n.endswith(f".dist-info/{NAME}")]
    return found[0] if len(found) == 1 else None


def read(wheel: Path) -> BuildInfo:
    """The build information of ``wheel``; a UserError if it has none, or not ours."""
    if not wheel.name.endswith(".whl"):
        raise UserError(f"{wheel}: not a wheel (the file name does not end in .whl)")
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = member_name(archive.namelist())
            if member is None:
                raise UserError(
                    f"{wheel.name} carries no build information (.dist-info/{NAME}): "
                    "it was built before wheels recorded how, or elsewhere"
                )
            info = archive.getinfo(member)
            if info.file_size > MAX_SIZE:
                raise UserError(f"{wheel.name}: {member} is {info.file_size} bytes, too big")
            with archive.open(info) as handle:
                raw = handle.read(MAX_SIZE + 1)
    except ZIP_ERRORS as exc:
        reason = shorten(str(exc), 200, quote=False)
        raise UserError(f"{wheel}: not a readable wheel (zip) file: {reason}") from None
    return from_json(raw, wheel.name)
