"""`verify --resolve` checks every torch of matrix.yaml, with real pip and uv.

The index holds small generated wheels and the resolvers get an empty
stand-in torch, so nothing large is downloaded; the matrix is the small
fixture (cpu and cu130 build torch 2.13 and 2.14, cu126 only 2.14).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wheel_matrix.configuration.matrix_file import load
from wheel_matrix.index import build_index
from wheel_matrix.index.verify import Expected, verify_index
from wheel_matrix.plan import cells, channel_torches
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def wheel(folder: Path, label: str, pin: str) -> Path:
    return make_wheel(folder, "causal-conv1d", f"1.7.0+{label}", requires_dist=[f"torch=={pin}.*"])


def test_resolve_covers_each_matrix_torch_and_names_the_missing_one(
    tmp_path: Path, small_matrix_path: Path
) -> None:
    w = tmp_path / "w"
    wheels = [
        wheel(w, "cputorch2.13", "2.13"),
        wheel(w, "cputorch2.14", "2.14"),
        wheel(w, "cu130torch2.14", "2.14"),  # cu130's torch 2.13 is missing
    ]
    build_index(wheels, tmp_path / "index")
    expected = Expected(channel_torches(cells(load(small_matrix_path))), "matrix-small.yaml builds")
    report = verify_index(str(tmp_path / "index"), resolve=True, expected=expected)
    assert [str(f) for f in report.faults] == [
        "cu130/: no causal-conv1d wheels for torch 2.13, which matrix-small.yaml builds for "
        "this channel",
        "cu126/: no such channel, but matrix-small.yaml builds torch 2.14 for it",
    ]
    assert report.resolved == (("cpu", "2.13"), ("cpu", "2.14"), ("cu130", "2.14"))


def _verify_cpu_channel(
    tmp_path: Path, matrix: Path, torch_pin_of_214: str
) -> subprocess.CompletedProcess[str]:
    """Index cpu wheels for torch 2.13 and 2.14 (the latter pinned as given), verify cpu."""
    w = tmp_path / "w"
    build_index(
        [wheel(w, "cputorch2.13", "2.13"), wheel(w, "cputorch2.14", torch_pin_of_214)],
        tmp_path / "index",
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wheel_matrix",
            "verify",
            str(tmp_path / "index"),
            "--resolve",
            "--matrix",
            str(matrix),
            "--channel",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_resolve_by_matrix_catches_a_wrong_pin(tmp_path: Path, small_matrix_path: Path) -> None:
    # The torch 2.14 wheel pins torch 2.13: with torch 2.13 both installers pick it
    # (its label sorts highest), and with torch 2.14 neither finds a wheel.
    done = _verify_cpu_channel(tmp_path, small_matrix_path, torch_pin_of_214="2.13")
    assert done.returncode == 1, done.stderr
    for installer in ("pip", "uv"):
        assert (
            f"cpu/: {installer} resolved causal-conv1d 1.7.0+cputorch2.14 with torch 2.13 "
            "(label cputorch2.13)"
        ) in done.stderr
        assert f"cpu/: {installer} could not resolve causal-conv1d with torch 2.14" in done.stderr
    assert "4 fault(s)" in done.stderr


def test_cli_resolve_by_matrix_ok(tmp_path: Path, small_matrix_path: Path) -> None:
    done = _verify_cpu_channel(tmp_path, small_matrix_path, torch_pin_of_214="2.14")
    assert done.returncode == 0, done.stderr
    assert "resolved by pip and uv: cpu: torch 2.13, 2.14" in done.stderr
