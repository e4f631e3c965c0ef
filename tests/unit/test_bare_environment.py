"""The command line in a real venv holding only PyYAML and packaging (no pyelftools, filelock,
Jinja2 or pypi-simple): every --help works, and a command that needs more says so in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import packaging
import pytest
import yaml

from wheel_matrix.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    for module in (yaml, packaging):
        source = Path(module.__file__ or "").parent
        shutil.copytree(source, Path(purelib) / source.name)
    return python


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(python), "-m", "wheel_matrix", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )


def test_the_venv_is_bare(bare_python: Path) -> None:
    probe = "import importlib.util as u; print([m for m in ('elftools', 'filelock', 'jinja2', " \
            "'pypi_simple', 'wheel_matrix_nothing') if u.find_spec(m)])"
    done = subprocess.run([bare_python, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_help_works(bare_python: Path) -> None:
    commands = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"build", "index", "verify", "serve", "render", "sync-torch"} <= set(commands)
    for args in (["--help"], *([c, "--help"] for c in commands)):
        done = run(bare_python, *args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        assert "usage:" in done.stdout and not done.stderr


def test_a_command_missing_a_package_says_which_in_one_line(
    bare_python: Path, tmp_path: Path
) -> None:
    from wheel_matrix.index import build_index
    from wheel_matrix.wheel.make import make_wheel

    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.13")],
                tmp_path / "index")
    for args, package, module in (
        (["verify", str(tmp_path / "index")], "pypi-simple", "pypi_simple"),
        (["render", "--check"], "Jinja2", "jinja2"),
        (["yank", "1.7.0", "--root", str(tmp_path / "index")], "filelock", "filelock"),
    ):
        done = run(bare_python, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1] == (
            f"error: this command needs {package} (module '{module}'), which is not installed: "
            "pip install --group service (from the repository root)"
        )
    # What needs only the matrix runs.
    assert run(bare_python, "cells").returncode == 0
