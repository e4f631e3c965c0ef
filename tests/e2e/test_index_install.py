"""Real pip and real uv install generated wheels from the served index.

The wheels are pure and depend on nothing, so no torch is downloaded; the
installers run isolated from this machine's pip/uv configuration and talk
only to the index served on 127.0.0.1.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wheel_matrix.configuration.matrix_file import load
from wheel_matrix.index import build_index
from wheel_matrix.index.pages import JSON_V1
from wheel_matrix.index.serve import serving
from wheel_matrix.index.store import set_yanked
from wheel_matrix.plan.recipes import recipes
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
Served = tuple[str, list[tuple[str, str, int]]]  # base URL, requests seen
JAN, JUN = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)


def clean_env(tmp: Path) -> dict[str, str]:
    """This machine's environment minus every pip/uv setting, with private caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


def run(argv: list[str], tmp: Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        argv,
        env=clean_env(tmp),
        cwd=cwd or tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "uv"], check=True)
        found = shutil.which("uv")
    assert found, "uv is not installed and `pip install uv` did not provide it"
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("index")
    w = tmp / "wheels"
    old = [
        make_wheel(w, "causal-conv1d", v, requires_python=">=3.8")
        for v in ("1.7.0+cputorch2.13", "1.7.0+cputorch2.12", "1.7.0+cu130torch2.13")
    ]
    build_index(old, tmp / "index", now=JAN)
    new = [
        make_wheel(w, "causal-conv1d", "1.8.0+cputorch2.13", requires_python=">=3.8"),
        make_wheel(w, "causal-conv1d", "1.8.0+cu130torch2.13", requires_python=">=3.8"),
    ]
    build_index(new, tmp / "index", now=JUN)
    # A release everyone should skip unless they pin it exactly (PEP 592).
    build_index([make_wheel(w, "causal-conv1d", "1.9.0+cputorch2.13")], tmp / "index", now=JUN)
    set_yanked(tmp / "index", "1.9.0", reason="broken build")
    record: list[tuple[str, str, int]] = []
    with serving(tmp / "index", record=record) as url:
        yield url, record


def installed_version(python: Path, tmp: Path) -> str:
    code = "import causal_conv1d; print(causal_conv1d.__version__)"
    return run([str(python), "-c", code], tmp).strip()


def test_pip_installs_from_channel(served: Served, tmp_path: Path) -> None:
    url, record = served
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")], tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    record.clear()
    out = run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--isolated",
            "--index-url",
            url + "cpu/",
            "--only-binary=causal-conv1d",
            "causal-conv1d",
        ],
        tmp_path,
    )
    # 1.9.0 is yanked, so the newest unyanked release for the newest torch label wins.
    assert installed_version(python, tmp_path) == "1.8.0+cputorch2.13", out
    assert any(path == "/cpu/causal-conv1d/" for path, _, _ in record)
    # An exact pin still gets a yanked release, with the reason shown.
    out = run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--isolated",
            "--index-url",
            url + "cpu/",
            "causal-conv1d==1.9.0+cputorch2.13",
        ],
        tmp_path,
    )
    assert installed_version(python, tmp_path) == "1.9.0+cputorch2.13"
    assert "broken build" in out


def test_uv_uses_json_and_metadata(served: Served, tmp_path: Path, uv: str) -> None:
    url, record = served
    run([uv, "venv", str(tmp_path / "venv")], tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    record.clear()
    run(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(python),
            "--index-url",
            url + "cu130/",
            "causal-conv1d",
        ],
        tmp_path,
    )
    assert installed_version(python, tmp_path) == "1.8.0+cu130torch2.13"
    page = [ctype for path, ctype, _ in record if path == "/cu130/causal-conv1d/"]
    assert page == [JSON_V1], record  # negotiated JSON, not the HTML fallback
    assert any(path.endswith(".whl.metadata") for path, _, _ in record), record


def test_uv_exclude_newer_reads_upload_time(served: Served, tmp_path: Path, uv: str) -> None:
    url, _ = served
    run([uv, "venv", str(tmp_path / "venv")], tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    run(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(python),
            "--index-url",
            url + "cpu/",
            "--exclude-newer",
            "2025-03-01T00:00:00Z",
            "causal-conv1d",
        ],
        tmp_path,
    )
    assert installed_version(python, tmp_path) == "1.7.0+cputorch2.13"


def test_uv_project_with_explicit_index(served: Served, tmp_path: Path, uv: str) -> None:
    url, _ = served
    (tmp_path / "pyproject.toml").write_text(f"""\
[project]
name = "consumer"
version = "0"
requires-python = ">=3.8"
dependencies = ["causal-conv1d==1.7.0+cu130torch2.13"]

[tool.uv]
package = false

[[tool.uv.index]]
name = "causal-conv1d-cu130"
url = "{url}cu130/"
explicit = true

[tool.uv.sources]
causal-conv1d = {{ index = "causal-conv1d-cu130" }}
""")
    run([uv, "sync", "--python", sys.executable], tmp_path)
    assert installed_version(tmp_path / ".venv" / "bin" / "python", tmp_path) == (
        "1.7.0+cu130torch2.13"
    )
    assert f'registry = "{url}cu130/"' in (tmp_path / "uv.lock").read_text()


def test_index_command_prints_the_recipes(tmp_path: Path) -> None:
    """`index` prints every client's recipe for what it added, as recipes.py words them."""
    make_wheel(tmp_path / "wheels", "causal-conv1d", "1.7.0+cputorch2.13")
    url = "https://wheels.example/"
    out = run(
        [
            sys.executable,
            "-m",
            "wheel_matrix",
            "index",
            "--wheels",
            str(tmp_path / "wheels"),
            "--out",
            str(tmp_path / "index"),
            "--base-url",
            url,
        ],
        tmp_path,
        cwd=REPO,
    )
    project = "causal-conv1d"
    want = recipes(url, "cpu", "2.13", "1.7.0+cputorch2.13", [], load().torch_index, project)
    assert out.startswith(f"# 1.7.0+cputorch2.13 from {url}cpu/ (torch 2.13)\n")
    for recipe in want.items:
        assert f"\n## {recipe.title}\n{recipe.text}\n" in out
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in want["pip"].text
