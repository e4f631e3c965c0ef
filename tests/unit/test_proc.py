"""The subprocess wrapper: missing programs and failures read as one clear error."""

from __future__ import annotations

import sys

import pytest

from wheel_matrix import proc
from wheel_matrix.errors import ToolError


def test_missing_program_is_named() -> None:
    with pytest.raises(ToolError, match="no-such-tool-xyz not found on PATH"):
        proc.run(["no-such-tool-xyz", "--version"])


def test_capture_returns_stdout_only() -> None:
    out = proc.run(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
        capture=True,
        quiet=True,
    )
    assert out == "out\n"


def test_failure_keeps_compiler_errors_and_the_tail() -> None:
    script = (
        "print('a.cu(3): error: identifier x is undefined')\n"
        "for i in range(100): print('noise', i)\n"
        "raise SystemExit(3)\n"
    )
    with pytest.raises(ToolError) as info:
        proc.run([sys.executable, "-c", script], quiet=True)
    message = str(info.value)
    assert "exited with code 3" in message
    assert "a.cu(3): error: identifier x is undefined" in message  # far above the tail
    assert "noise 99" in message
    assert "noise 10\n" not in message


def test_env_adds_to_the_environment() -> None:
    out = proc.run(
        [sys.executable, "-c", "import os; print(os.environ['WM_X'], 'PATH' in os.environ)"],
        capture=True,
        quiet=True,
        env={"WM_X": "1"},
    )
    assert out.split() == ["1", "True"]
