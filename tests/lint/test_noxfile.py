"""The nox sessions are generated from the plan, and a broken matrix reads as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wheel_matrix.configuration import matrix_file, settings
from wheel_matrix.plan import cells

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]


def _sessions(listing: str) -> list[str]:
    """Session names from `nox --list` (lines "* name -> doc" or "- name -> doc")."""
    return [line[2:].split(" -> ")[0] for line in listing.splitlines() if line[:2] in ("* ", "- ")]


def _nox_list(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--noxfile", str(ROOT / "noxfile.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_one_build_session_per_cell() -> None:
    done = _nox_list()
    assert done.returncode == 0, done.stderr
    listed = set(_sessions(done.stdout))
    expected = {f"build-cell({c.id})" for c in cells(matrix_file.load(ROOT / "matrix.yaml"))}
    assert expected <= listed
    pythons = settings.load().pythons
    assert {"build", "tests", "lint", "index", "serve", "render", "cli"} <= listed
    assert {f"unit-{v}" for v in pythons} <= listed
    # Every session says what it does in one line.
    assert all(" -> " in line for line in done.stdout.splitlines() if line[:2] in ("* ", "- "))


def test_sessions_follow_the_matrix_file(small_matrix_path: Path) -> None:
    done = _nox_list({"WHEEL_MATRIX_FILE": str(small_matrix_path)})
    assert done.returncode == 0, done.stderr
    builds = sorted(s for s in _sessions(done.stdout) if s.startswith("build-cell("))
    all_cells = cells(matrix_file.load(small_matrix_path))
    assert builds == sorted(f"build-cell({c.id})" for c in all_cells)


def test_broken_matrix_is_one_line_and_exit_2(small_matrix_path: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(small_matrix_path.read_text())
    data["torch"]["2.14"]["pyhton"] = data["torch"]["2.14"].pop("python")
    bad = tmp_path / "matrix.yaml"
    bad.write_text(yaml.safe_dump(data))
    done = _nox_list({"WHEEL_MATRIX_FILE": str(bad)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}: torch.\"2.14\".pyhton: unknown key (did you mean 'python'?)"]
