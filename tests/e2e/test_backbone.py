"""The whole path on this machine: matrix.yaml -> compiled wheel -> served index -> pip/uv.

Everything here is real: the compiler, auditwheel, twine, an HTTP server on
127.0.0.1, pip, uv and PyPI itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
import urllib.parse
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from wheel_matrix.backends import machine
from wheel_matrix.configuration import matrix_file

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CELL = machine.default_cell(matrix_file.load(), machine.Host("x86_64", None, ()))

# Run in the installed environment: the op on CPU against the pure-PyTorch reference.
SMOKE = textwrap.dedent("""
    import importlib.metadata, sys, torch
    import causal_conv1d
    from causal_conv1d import causal_conv1d_fn
    from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 64, 257), torch.randn(64, 4), torch.randn(64)
    out = causal_conv1d_fn(x, w, b, activation="silu")
    torch.testing.assert_close(out, causal_conv1d_ref(x, w, b, activation="silu"),
                               rtol=3e-4, atol=1e-3)
    # The installed wheel, not a source tree that happens to be importable.
    assert causal_conv1d.__file__.startswith(sys.prefix), causal_conv1d.__file__
    print(importlib.metadata.version("causal-conv1d"), torch.__version__)
""")


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    # Never the repository root: its causal_conv1d/ would shadow the installed package.
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd or Path(tempfile.gettempdir()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def channel_url(index_url: str) -> str:
    return f"{index_url}{CELL.label.channel}/"


def test_wheel_is_named_labelled_and_pinned(built_wheel: Path) -> None:
    assert re.fullmatch(
        rf"causal_conv1d-1\.7\.0\+{CELL.label}-{CELL.abi3_tag}-abi3-manylinux_2_\d+_x86_64\.whl",
        built_wheel.name,
    ), built_wheel.name
    with zipfile.ZipFile(built_wheel) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(whl.read(meta_name).decode())
        names = whl.namelist()
    assert meta["Version"] == CELL.version
    assert meta.get_all("Requires-Dist") == [f"torch=={CELL.torch.minor}.*"]
    # torch and CUDA libraries are the user's torch's business, never vendored.
    assert not [n for n in names if ".libs/" in n and ("torch" in n or "cudart" in n)]
    assert any(n.startswith("causal_conv1d/_C") and n.endswith(".so") for n in names)


def test_pip_installs_the_labelled_wheel_over_pypi(index_url: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    # The README's command. PyPI also offers causal-conv1d (as an sdist): pip merges both
    # indexes, and --only-binary keeps it from ever building upstream's sdist.
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--extra-index-url",
        channel_url(index_url),
        "--only-binary=causal-conv1d",
        "causal-conv1d",
    )
    version, torch_version = run(venv / "bin" / "python", "-c", SMOKE).split()
    assert version == CELL.version
    assert torch_version.startswith(CELL.torch.minor + ".")


def test_uv_pip_installs_the_labelled_wheel(index_url: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run("uv", "venv", "--quiet", "--python", sys.executable, venv)
    run(
        "uv",
        "pip",
        "install",
        "--quiet",
        "--python",
        venv / "bin" / "python",
        "--extra-index-url",
        channel_url(index_url),
        "causal-conv1d",
    )
    version, _ = run(venv / "bin" / "python", "-c", SMOKE).split()
    assert version == CELL.version


def test_uv_project_locks_and_syncs_without_building(
    index_url: str, built_wheel: Path, tmp_path: Path
) -> None:
    # The scenario of uv's "unclear how to `uv add causal-conv1d`" issue.
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [project]
        name = "app"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["torch", "causal-conv1d; sys_platform == 'linux'"]

        [[tool.uv.index]]
        name = "causal-conv1d-{CELL.label.channel}"
        url = "{channel_url(index_url)}"
        explicit = true

        [tool.uv.sources]
        causal-conv1d = {{ index = "causal-conv1d-{CELL.label.channel}" }}
    """)
    )
    run("uv", "lock", "--quiet", "--python", sys.executable, cwd=project)
    lock = (project / "uv.lock").read_text()
    assert f'version = "{CELL.version}"' in lock
    # The lock records our labelled wheel itself, with its hash, from our index.
    assert urllib.parse.quote(built_wheel.name) in lock or built_wheel.name in lock
    run("uv", "sync", "--quiet", "--no-build", "--python", sys.executable, cwd=project)
    version, _ = run(project / ".venv" / "bin" / "python", "-c", SMOKE).split()
    assert version == CELL.version


def test_verify_passes_on_the_served_index(index_url: str) -> None:
    # Hashes, .metadata, labels and channels over HTTP, then real pip and uv
    # resolving against this cell's torch.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wheel_matrix",
            "verify",
            index_url,
            "--resolve",
            "--torch",
            CELL.torch.minor,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{CELL.label.channel}: torch {CELL.torch.minor}" in done.stdout + done.stderr
