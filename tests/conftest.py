"""Shared fixtures: the small fixture matrix and fake-pinned render settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wheel_matrix.configuration.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def small_matrix_path() -> Path:
    return FIXTURES / "matrix-small.yaml"


@pytest.fixture
def small_settings() -> Settings:
    """Render settings with fake pins: pin bumps in templates/settings.yaml don't touch tests."""
    # Imported here: the extension tests run against the installed wheel,
    # outside the repository, where the service isn't importable.
    from wheel_matrix.configuration import settings

    return settings.load(FIXTURES / "settings-small.yaml")
