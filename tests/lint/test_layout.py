"""The test tree collects as one: pytest's default import mode keys test modules by basename."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.lint

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    # Two folders holding test_x.py collect apart but fail together ("import file
    # mismatch"), and only the full suite runs them together.
    seen: dict[str, list[str]] = defaultdict(list)
    for module in TESTS.rglob("*.py"):
        if module.name != "conftest.py" and "__pycache__" not in module.parts:
            seen[module.name].append(str(module.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename: {clashes}"


def test_no_test_module_imports_a_conftest() -> None:
    # Every folder has a conftest.py, and `import conftest` gets whichever pytest
    # loaded first: shared helpers live in a support module instead.
    offenders = [
        str(module.relative_to(TESTS))
        for module in TESTS.rglob("*.py")
        if "__pycache__" not in module.parts
        and any(
            line.startswith(("from conftest ", "import conftest"))
            for line in module.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert not offenders, f"test modules importing a conftest: {offenders}"
