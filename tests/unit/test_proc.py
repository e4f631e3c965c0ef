"""The subprocess wrapper: missing programs and failures read as one clear error."""

from __future__ import annotations

import sys

import pytest

from wheel_matrix import log, proc
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


def test_failure_on_actions_is_grouped_and_annotated_with_the_tail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing step: its group closes, and ::error:: carries the last lines of its output."""
    noisy = [sys.executable, "-c",
             "import sys; [print(f'compiler line {i}') for i in range(60)]; sys.exit(3)"]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(ToolError) as info, log.step("compile"):
        proc.run(noisy)
    log.error(str(info.value))
    err = capsys.readouterr().err
    assert "::group::compile" in err and "::endgroup::" in err
    (annotation,) = [line for line in err.splitlines() if line.startswith("::error::")]
    assert "exited with code 3" in annotation
    assert "compiler line 59" in annotation and "%0A" in annotation  # the tail, one line
    assert "compiler line 0%0A" not in annotation  # only the tail
