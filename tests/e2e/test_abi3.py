"""One build serves every Python: the wheel is honest abi3 and runs under other Pythons."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SMOKE = textwrap.dedent("""
    import sys, torch
    from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
    from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref, causal_conv1d_update_ref
    x, w = torch.randn(2, 24, 33), torch.randn(24, 3)
    torch.testing.assert_close(causal_conv1d_fn(x, w, activation="silu"),
                               causal_conv1d_ref(x, w, activation="silu"), rtol=3e-4, atol=1e-3)
    state = torch.randn(2, 24, 2)
    ref_state = state.clone()
    out = causal_conv1d_update(x[:, :, 0], state, w)
    torch.testing.assert_close(out, causal_conv1d_update_ref(x[:, :, 0], ref_state, w))
    torch.testing.assert_close(state, ref_state, rtol=0, atol=0)
    print(sys.version_info[:2])
""")


def test_abi3audit_finds_no_cpython_abi_use(built_wheel: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "abi3audit", "--report", str(built_wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (spec,) = json.loads(done.stdout)["specs"].values()
    extensions = spec["wheel"]
    assert [e["name"] for e in extensions] == ["_C.abi3.so"]
    for ext in extensions:
        assert ext["result"]["is_abi3"]
        assert ext["result"]["non_abi3_symbols"] == []
        assert ext["result"]["is_abi3_baseline_compatible"]


def _pyenv_python(version: str) -> str | None:
    found = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(found[-1]) if found else shutil.which(f"python{version}")


def _other_pythons(built_wheel: Path) -> list[str]:
    """Pythons here that the wheel serves (its abi3 floor and up), other than this one."""
    floor = int(built_wheel.name.split("-")[2].removeprefix("cp")[1:])  # cp311 -> 11
    here = sys.version_info.minor
    return [
        f"3.{m}" for m in range(floor, 15) if m != here and _pyenv_python(f"3.{m}") is not None
    ]


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_wheel_built_under_one_python_runs_under_another(
    built_wheel: Path, which: str, tmp_path: Path
) -> None:
    others = _other_pythons(built_wheel)
    assert len(others) >= 2, f"needs two other Pythons the wheel serves here, found {others}"
    version = others[0] if which == "oldest" else others[-1]
    python = _pyenv_python(version)
    assert python is not None
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "--quiet", "--python", python, str(venv)], check=True)
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(built_wheel),
        ],
        check=True,
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", SMOKE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(tuple(int(p) for p in version.split(".")))
