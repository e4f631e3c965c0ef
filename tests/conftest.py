"""Shared fixtures: the repository root and the small fixture matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def small_matrix_path() -> Path:
    return FIXTURES / "matrix-small.yaml"
