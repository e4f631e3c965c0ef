"""Snapshot tests: the rendered output of the small fixture matrix, file by file.

After an intended change to templates/ or the renderer, refresh them with
``UPDATE_SNAPSHOTS=1 python -m pytest tests/unit/test_render_snapshots.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wheel_matrix import render
from wheel_matrix.configuration import matrix_file
from wheel_matrix.configuration.settings import Settings

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots" / "matrix-small"


def _rendered(small_matrix_path: Path, small_settings: Settings) -> dict[str, str]:
    generated = render.render(matrix_file.load(small_matrix_path), small_settings)
    return {g.path: g.text for g in generated}


def test_snapshots_cover_exactly_the_rendered_files(
    small_matrix_path: Path, small_settings: Settings
) -> None:
    if os.environ.get("UPDATE_SNAPSHOTS"):
        for stale in (p for p in SNAPSHOTS.rglob("*") if p.is_file()):
            stale.unlink()
        for path, text in _rendered(small_matrix_path, small_settings).items():
            (SNAPSHOTS / path).parent.mkdir(parents=True, exist_ok=True)
            (SNAPSHOTS / path).write_text(text, encoding="utf-8")
    on_disk = {p.relative_to(SNAPSHOTS).as_posix() for p in SNAPSHOTS.rglob("*") if p.is_file()}
    assert on_disk == set(_rendered(small_matrix_path, small_settings))


@pytest.mark.parametrize(
    "path",
    sorted(p.relative_to(SNAPSHOTS).as_posix() for p in SNAPSHOTS.rglob("*") if p.is_file()),
)
def test_rendered_file_matches_its_snapshot(
    small_matrix_path: Path, small_settings: Settings, path: str
) -> None:
    expected = (SNAPSHOTS / path).read_text(encoding="utf-8")
    assert _rendered(small_matrix_path, small_settings)[path] == expected
