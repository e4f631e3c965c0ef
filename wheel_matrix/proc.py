"""The one way this service runs other programs.

It prints the command, checks the program exists, and on failure raises a
ToolError carrying the tail of the output, so a failed compile reads as one
error with the compiler's last lines instead of a wall of text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wheel_matrix import log
from wheel_matrix.errors import ToolError

TAIL_LINES = 40
ERROR_LINES = 20
_ERROR = re.compile(r"\berror\b|^FAILED:", re.IGNORECASE)


def which(program: str, hint: str = "") -> str:
    """The absolute path of ``program``, or a ToolError saying how to get it."""
    found = shutil.which(program)
    if found is None:
        raise ToolError(f"{program} not found on PATH" + (f"; {hint}" if hint else ""))
    return found


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    quiet: bool = False,
    on_line: Callable[[str], None] | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> str:
    """Run ``argv``; return its output when ``capture``, raise ToolError on failure.

    Output streams to the terminal when verbose; otherwise only its tail is
    shown if the command fails. ``env`` entries are added to the current
    environment. ``on_line`` sees every output line (for progress reports).
    """
    args = [str(a) for a in argv]
    program = args[0]
    if os.sep not in program:
        args[0] = which(program)
    elif not Path(program).exists():
        raise ToolError(f"{program} does not exist")
    if not quiet:
        log.command([program, *args[1:]])
    full_env = {**os.environ, **env} if env else None
    if capture:
        # Keep stdout clean for parsing; stderr only matters when it fails.
        done = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if done.returncode not in ok_codes:
            tail_text = "\n".join((done.stderr or done.stdout).splitlines()[-TAIL_LINES:])
            raise ToolError(f"{program} exited with code {done.returncode}\n{tail_text}")
        return done.stdout
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    # A compiler's own error lines scroll far above the tail that pip and
    # setuptools print after them, so the first few are kept apart.
    errors: list[str] = []
    for line in proc.stdout:
        if log.VERBOSE:
            print(line, end="", flush=True)
        elif on_line is not None:
            on_line(line)
        tail.append(line)
        if len(errors) < ERROR_LINES and _ERROR.search(line):
            errors.append(line)
    code = proc.wait()
    if code != 0:
        shown = ""
        if not log.VERBOSE:
            first = [e for e in errors if e not in tail]
            shown = "\n" + "".join([*first, *(["...\n"] if first else []), *tail]).rstrip()
        raise ToolError(f"{program} exited with code {code}{shown}")
    return ""
