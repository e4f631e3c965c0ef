"""Incremental, immutable, journalled publishing; yank and unyank."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simple_html import parse_html

from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index, journal
from wheel_matrix.index.journal import Write
from wheel_matrix.index.store import set_yanked
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def wheel(folder: Path, version: str, body: bytes | None = None) -> Path:
    files = None if body is None else {"causal_conv1d/__init__.py": body}
    return make_wheel(folder, "causal-conv1d", version, files=files)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    paths = [
        wheel(tmp_path / "w", v)
        for v in ("1.7.0+cputorch2.13", "1.7.0+cu126torch2.13", "1.7.0+cu130torch2.14")
    ]
    build_index(paths, tmp_path / "index", now=NOW)
    return tmp_path / "index"


def test_adding_a_wheel_rewrites_only_its_pages(tmp_path: Path, index: Path) -> None:
    before = snapshot(index)
    report = build_index([wheel(tmp_path / "w", "1.7.1+cu130torch2.14")], index)
    new = "cu130/causal-conv1d/causal_conv1d-1.7.1+cu130torch2.14-py3-none-any.whl"
    assert report.added == (new,)
    assert report.written == (
        new,
        new + ".metadata",
        "cu130/causal-conv1d/index.json",
        "cu130/causal-conv1d/index.html",
        "channels.json",
        "index.html",
    )
    after = snapshot(index)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == set(report.written)
    assert verify_index(str(index)).ok


def test_a_new_channel_adds_its_root_pages(tmp_path: Path, index: Path) -> None:
    report = build_index([wheel(tmp_path / "w", "1.7.0+cu128torch2.13")], index)
    assert {"cu128/index.html", "cu128/index.json"} <= set(report.pages_written)
    assert "cu130/index.html" not in report.written
    assert "cu128" in json.loads((index / "channels.json").read_text())["channels"]


def test_published_files_are_immutable(tmp_path: Path, index: Path) -> None:
    before = snapshot(index)
    changed = wheel(tmp_path / "other", "1.7.0+cu130torch2.14", b"# rebuilt\n")
    fresh = wheel(tmp_path / "other", "1.7.2+cu130torch2.14")
    with pytest.raises(UserError, match=r"already published with other bytes"):
        build_index([fresh, changed], index)
    # Refused as a whole: not even the innocent wheel was published.
    assert snapshot(index) == before
    assert not journal.staging_path(index).exists()


def test_yank_and_unyank_one_label(index: Path) -> None:
    report = set_yanked(index, "1.7.0+cu130torch2.14", reason="miscompiled")
    wheel = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"
    assert report.files == (f"cu130/causal-conv1d/{wheel}",)
    assert "cpu/causal-conv1d/index.html" not in report.written
    (anchor,), _ = parse_html((index / "cu130/causal-conv1d/index.html").read_text())
    assert anchor.get("data-yanked") == "miscompiled"
    doc = json.loads((index / "cu130/causal-conv1d/index.json").read_text())
    assert doc["files"][0]["yanked"] == "miscompiled"
    assert verify_index(str(index)).ok
    assert set_yanked(index, "1.7.0+cu130torch2.14", reason="miscompiled").written == ()
    set_yanked(index, "1.7.0+cu130torch2.14", reason=None)
    (anchor,), _ = parse_html((index / "cu130/causal-conv1d/index.html").read_text())
    assert not anchor.has("data-yanked")
    assert (
        json.loads((index / "cu130/causal-conv1d/index.json").read_text())["files"][0]["yanked"]
        is False
    )


def test_yank_without_reason_and_across_channels(index: Path) -> None:
    report = set_yanked(index, "1.7.0")
    assert len(report.files) == 3
    for channel in ("cpu", "cu126", "cu130"):
        doc = json.loads((index / channel / "causal-conv1d/index.json").read_text())
        assert doc["files"][0]["yanked"] is True
        (anchor,), _ = parse_html((index / channel / "causal-conv1d/index.html").read_text())
        assert anchor.get("data-yanked") == ""
    landing = json.loads((index / "channels.json").read_text())["channels"]
    assert landing["cpu"]["causal-conv1d"] == [
        {"version": "1.7.0+cputorch2.13", "yanked": True, "arches": []}
    ]


def test_yank_unknown_version_names_near_misses(index: Path) -> None:
    with pytest.raises(UserError, match=r"no version 1\.7\.0\+cu130torch2\.15 \(did you mean"):
        set_yanked(index, "1.7.0+cu130torch2.15")
    with pytest.raises(UserError, match="project 'nope' is not in the index"):
        set_yanked(index, "1.7.0", project="nope")
    with pytest.raises(UserError, match="not a PEP 440 version"):
        set_yanked(index, "latest")


def test_a_held_lock_stops_a_second_publish(tmp_path: Path, index: Path) -> None:
    with journal.locked(index), pytest.raises(UserError, match="another publish holds"):
        build_index([wheel(tmp_path / "w", "1.7.3+cputorch2.13")], index, lock_timeout=0.2)


def test_interrupted_commit_is_rolled_forward(tmp_path: Path, index: Path) -> None:
    """A journal left by a kill mid-commit: the next publish finishes it first."""
    staging = journal.staging_path(index)
    page = (index / "cpu/causal-conv1d/index.html").read_bytes()
    (staging / "cpu/causal-conv1d").mkdir(parents=True)
    (staging / "cpu/causal-conv1d/index.html").write_bytes(page.replace(b"Links", b"Moved"))
    (staging / journal.JOURNAL).write_text(
        json.dumps(["cpu/causal-conv1d/already-moved.whl", "cpu/causal-conv1d/index.html"])
    )
    assert journal.pending(index)
    assert verify_index(str(index)).notes  # says a publish is pending
    build_index([], index)
    assert not staging.exists()
    assert b"Moved for causal-conv1d" in (index / "cpu/causal-conv1d/index.html").read_bytes()


def test_staging_without_journal_is_discarded(tmp_path: Path, index: Path) -> None:
    before = snapshot(index)
    staging = journal.staging_path(index)
    (staging / "cpu").mkdir(parents=True)
    (staging / "cpu/index.html").write_bytes(b"half written")
    assert journal.recover(index) is False
    assert not staging.exists() and snapshot(index) == before


def test_commit_moves_in_order(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with journal.locked(root, create=True):
        journal.commit(root, [Write("a/b.txt", b"1"), Write("c.txt", b"2")])
    assert (root / "a/b.txt").read_bytes() == b"1" and (root / "c.txt").read_bytes() == b"2"
    with pytest.raises(AssertionError):
        journal.commit(root, [Write("x", b""), Write("x", b"")])
