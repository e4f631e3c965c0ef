"""Extension tests. Every module imports cc1d_testing first, which skips the
module cleanly when the compiled extension is not importable (a module-level
skip raised from this conftest would abort the whole run on recent pytest)."""

from __future__ import annotations

import pytest


def pytest_report_header(config: pytest.Config) -> str:
    try:
        import causal_conv1d._ops

        return f"causal_conv1d: {causal_conv1d._ops.__file__}"
    except ImportError as exc:
        return f"causal_conv1d: not importable ({exc})"
