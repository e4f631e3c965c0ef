"""The wheel store (dist/wheels): where finished, checked wheels land, whole or not at all."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import log


@dataclass(frozen=True)
class BuildResult:
    wheel: Path
    size: int
    sha256: str
    seconds: float
    compile_seconds: float | None = None  # the compile step alone, where the backend knows it


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def store_wheel(wheel: Path, wheels: Path, start: float) -> BuildResult:
    """Copy a finished wheel into the store; readers never see a half-copied one."""
    wheels.mkdir(parents=True, exist_ok=True)
    final = wheels / wheel.name
    staged = wheels / f".{wheel.name}.partial"
    try:
        shutil.copyfile(wheel, staged)
        os.replace(staged, final)
    except BaseException:
        staged.unlink(missing_ok=True)  # a full disk must not leave a hidden half-copy
        raise
    return BuildResult(
        wheel=final,
        size=final.stat().st_size,
        sha256=sha256_of(final),
        seconds=time.monotonic() - start,
    )


def summary(results: Sequence[BuildResult]) -> str:
    rows = [
        [r.wheel.name, log.format_size(r.size), r.sha256, log.format_duration(r.seconds)]
        for r in results
    ]
    return log.table(["wheel", "size", "sha256", "time"], rows, title="Built wheels")
