"""Small indexes for verify's tests, and tampering with them by hand (bypassing every check)."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from wheel_matrix.index import build_index, pages
from wheel_matrix.index.pages import IndexFile
from wheel_matrix.index.store import load_project
from wheel_matrix.wheel.make import make_wheel

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def two_channel_index(tmp_path: Path) -> Path:
    """An index with one wheel in cpu (torch 2.13) and one in cu130 (torch 2.14)."""
    paths = [
        make_wheel(tmp_path / "w", "causal-conv1d", v, requires_python=">=3.9")
        for v in ("1.7.0+cputorch2.13", "1.7.0+cu130torch2.14")
    ]
    build_index(paths, tmp_path / "index", now=NOW)
    return tmp_path / "index"


def rewrite(index: Path, channel: str, change: object) -> None:
    """Rewrite both forms of a project page with ``change(files) -> files``."""
    page = load_project(index, channel, "causal-conv1d")
    assert page is not None
    page = page.with_files(change(list(page.files)))  # type: ignore[operator]
    folder = index / channel / "causal-conv1d"
    (folder / "index.html").write_bytes(pages.project_html(page))
    (folder / "index.json").write_bytes(pages.project_json(page))


def plant_file(index: Path, channel: str, wheel: Path) -> None:
    """Publish ``wheel`` in ``channel`` by hand, bypassing every check build_index makes."""
    folder = index / channel / "causal-conv1d"
    shutil.copy(wheel, folder / wheel.name)
    meta = make_metadata(wheel)
    (folder / (wheel.name + ".metadata")).write_bytes(meta)
    entry = IndexFile(
        wheel.name,
        hashlib.sha256(wheel.read_bytes()).hexdigest(),
        wheel.stat().st_size,
        "2025-03-01T00:00:00.000000Z",
        None,
        hashlib.sha256(meta).hexdigest(),
    )
    rewrite(index, channel, lambda files: [*files, entry])


def make_metadata(wheel: Path) -> bytes:
    """The METADATA inside ``wheel``, read as is (the wheel may be a deliberate liar)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name)
