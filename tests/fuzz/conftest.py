"""Fuzz tests: property-based (hypothesis), each with a fixed budget (see ``fuzzing``) so
CI runs them in seconds. The number of examples each target ran is printed at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzzing import RUNS, summary


@pytest.fixture(scope="session", autouse=True)
def report_runs() -> Iterator[None]:
    yield
    if RUNS:
        print(f"\nfuzz examples run:\n{summary()}")
