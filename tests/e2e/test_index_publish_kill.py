"""Publishing under SIGKILL, and verify's real pip/uv resolution check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wheel_matrix.index import build_index, journal
from wheel_matrix.index.store import channels_of, load_channel, load_project
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PUBLISH = (
    "import sys; from pathlib import Path;"
    "from wheel_matrix.index.store import build_index, wheels_in;"
    "build_index(wheels_in(Path(sys.argv[1])), Path(sys.argv[2]))"
)


def published(root: Path) -> set[str]:
    """Every file the project pages of every channel list."""
    found = set()
    for channel in channels_of(root):
        for project in load_channel(root, channel):
            page = load_project(root, channel, project)
            found |= {f.filename for f in page.files} if page else set()
    return found


def kill_when(argv: list[str], ready: Path, delay: float) -> bool:
    """Start ``argv``, SIGKILL it ``delay`` s after ``ready`` exists; False if it finished."""
    proc = subprocess.Popen(argv, cwd=REPO)
    try:
        while not ready.exists():
            if proc.poll() is not None:
                return False
            time.sleep(0.0002)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_mid_publish_leaves_a_valid_index(tmp_path: Path) -> None:
    first = [
        make_wheel(tmp_path / "v1", "causal-conv1d", f"1.0.{i}+cputorch2.13") for i in range(5)
    ]
    build_index(first, tmp_path / "index")
    before = published(tmp_path / "index")
    for i in range(300):
        make_wheel(tmp_path / "v2", "causal-conv1d", f"1.1.{i}+{('cpu', 'cu130')[i % 2]}torch2.14")
    root = tmp_path / "index"
    argv = [sys.executable, "-c", PUBLISH, str(tmp_path / "v2"), str(root)]
    staging = journal.staging_path(root)
    pending: list[tuple[str, bool, bool]] = []
    # While staging (index untouched), then at and just after the commit point.
    for ready, delay in (
        (staging, 0.05),
        (staging / journal.JOURNAL, 0.0),
        (staging / journal.JOURNAL, 0.002),
    ):
        killed = kill_when(argv, ready, delay)
        pending.append((ready.name, killed, journal.pending(root)))
        report = verify_index(str(root))
        assert report.ok, report.faults
        assert before <= published(root)
        if killed and ready == staging:
            assert published(root) == before  # nothing committed yet
    assert any(p for _, _, p in pending), f"no kill landed inside a commit: {pending}"
    # The next publish rolls any interrupted commit forward and completes.
    subprocess.run(argv, cwd=REPO, check=True)
    assert not staging.exists()
    report = verify_index(str(root))
    assert report.ok and report.notes == ()
    assert len(published(root)) == 305


def test_verify_resolves_each_torch_to_its_label(tmp_path: Path) -> None:
    good = [
        make_wheel(
            tmp_path / "w", "causal-conv1d", f"1.7.0+cputorch{t}", requires_dist=[f"torch=={t}.*"]
        )
        for t in ("2.12", "2.13")
    ]
    build_index(good, tmp_path / "index")
    assert verify_index(str(tmp_path / "index"), resolve=True).ok
    # A wheel that lost its torch pin wins every resolution (its label sorts highest).
    unpinned = make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.14")
    build_index([unpinned], tmp_path / "index")
    report = verify_index(str(tmp_path / "index"), resolve=True, torches=["2.13"])
    messages = [str(f) for f in report.faults]
    assert messages == [
        "cpu/: pip resolved causal-conv1d 1.7.0+cputorch2.14 with torch 2.13 (label cputorch2.13)",
        "cpu/: uv resolved causal-conv1d 1.7.0+cputorch2.14 with torch 2.13 (label cputorch2.13)",
    ]


def test_cli_verify_resolve_by_url(tmp_path: Path) -> None:
    from wheel_matrix.index.serve import serving

    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        "1.7.0+cu130torch2.14",
        requires_dist=["torch==2.14.*", "packaging>=20"],
    )
    build_index([wheel], tmp_path / "index")
    with serving(tmp_path / "index") as url:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "wheel_matrix",
                "verify",
                url,
                "--resolve",
                "--torch",
                "2.14",
                "--torch",
                "2.13",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "pip could not resolve causal-conv1d with torch 2.13" in done.stderr
    assert "uv could not resolve causal-conv1d with torch 2.13" in done.stderr
    assert "torch 2.14" not in done.stderr
    assert json.loads((tmp_path / "index/channels.json").read_text())["channels"]["cu130"]
