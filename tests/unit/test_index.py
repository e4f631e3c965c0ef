"""Index generation from small, valid generated wheels: pages, hashes, channels, errors."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simple_html import parse_html

from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index, pages
from wheel_matrix.index.store import read_wheels, wheels_in
from wheel_matrix.wheel.facts import read_wheel
from wheel_matrix.wheel.make import make_wheel

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
VERSIONS = ["1.7.0+cputorch2.13", "1.7.0+cu130torch2.14", "1.7.0+cu130torch2.13"]


def wheels(folder: Path, versions: list[str] = VERSIONS, **kw: object) -> list[Path]:
    return [
        make_wheel(folder, "causal-conv1d", v, requires_python=">=3.10", **kw)  # type: ignore[arg-type]
        for v in versions
    ]


@pytest.fixture
def index(tmp_path: Path) -> Path:
    build_index(wheels(tmp_path / "wheels"), tmp_path / "index", now=NOW)
    return tmp_path / "index"


def test_one_simple_root_per_channel(index: Path) -> None:
    assert sorted(p.name for p in index.iterdir() if p.is_dir()) == ["cpu", "cu130"]
    for channel in ("cpu", "cu130"):
        anchors, meta = parse_html((index / channel / "index.html").read_text())
        assert [a.href for a in anchors] == ["causal-conv1d/"]
        assert meta["pypi:repository-version"] == "1.1"
        doc = json.loads((index / channel / "index.json").read_text())
        assert doc == {"meta": {"api-version": "1.1"}, "projects": [{"name": "causal-conv1d"}]}
    assert (index / ".nojekyll").is_file()


def test_project_page_links_hashes_and_metadata(index: Path) -> None:
    folder = index / "cu130" / "causal-conv1d"
    anchors, _ = parse_html((folder / "index.html").read_text())
    assert [a.text for a in anchors] == [
        "causal_conv1d-1.7.0+cu130torch2.13-py3-none-any.whl",
        "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl",
    ]
    for anchor in anchors:
        href, _, fragment = anchor.href.partition("#")
        assert "+" not in href and "%2B" in href
        wheel = folder / anchor.text
        assert fragment == "sha256=" + hashlib.sha256(wheel.read_bytes()).hexdigest()
        metadata = (folder / (anchor.text + ".metadata")).read_bytes()
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith("METADATA"))
            assert metadata == archive.read(name)
        expected = "sha256=" + hashlib.sha256(metadata).hexdigest()
        assert anchor.get("data-core-metadata") == expected
        assert anchor.get("data-dist-info-metadata") == expected
        assert anchor.get("data-requires-python") == ">=3.10"
        assert not anchor.has("data-yanked")
    # The attribute is HTML-escaped in the source, not only in the parsed value.
    assert 'data-requires-python="&gt;=3.10"' in (folder / "index.html").read_text()


def test_project_json_carries_pep_691_700_fields(index: Path) -> None:
    doc = json.loads((index / "cu130" / "causal-conv1d" / "index.json").read_text())
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "causal-conv1d"
    assert doc["versions"] == ["1.7.0+cu130torch2.13", "1.7.0+cu130torch2.14"]
    first = doc["files"][0]
    wheel = index / "cu130" / "causal-conv1d" / first["filename"]
    assert first["url"] == first["filename"].replace("+", "%2B")
    assert first["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert first["size"] == wheel.stat().st_size
    assert first["upload-time"] == "2025-03-01T12:00:00.000000Z"
    assert first["requires-python"] == ">=3.10"
    assert first["yanked"] is False
    assert first["core-metadata"] == first["dist-info-metadata"]
    assert set(first["core-metadata"]) == {"sha256"}


def test_channel_follows_label_not_file_location(tmp_path: Path) -> None:
    paths = wheels(tmp_path / "a", ["1.7.0+cu126torch2.10"]) + wheels(
        tmp_path / "b", ["1.7.0+cputorch2.10"]
    )
    report = build_index(paths, tmp_path / "index", now=NOW)
    assert [c.channel for c in report.channels] == ["cpu", "cu126"]
    assert [c.versions for c in report.channels] == [1, 1]


def test_project_name_is_normalised(tmp_path: Path) -> None:
    path = make_wheel(tmp_path / "w", "Causal_Conv1D", "1.7.0+cputorch2.13")
    build_index([path], tmp_path / "index", now=NOW)
    assert (tmp_path / "index" / "cpu" / "causal-conv1d" / "index.html").is_file()
    doc = json.loads((tmp_path / "index" / "cpu" / "causal-conv1d" / "index.json").read_text())
    assert doc["name"] == "causal-conv1d"


def test_html_escaping_of_attributes(tmp_path: Path) -> None:
    page = pages.ProjectPage(
        pages.canonicalize_name("x"),
        (
            pages.IndexFile(
                filename="x-1.0+cputorch2.1-py3-none-any.whl",
                sha256="0" * 64,
                size=1,
                upload_time="2025-01-01T00:00:00.000000Z",
                requires_python='<4,>=3.10"',
                metadata_sha256=None,
                yanked='broken <b>"&"</b>',
            ),
        ),
    )
    text = pages.project_html(page).decode()
    assert 'data-requires-python="&lt;4,&gt;=3.10&quot;"' in text
    assert 'data-yanked="broken &lt;b&gt;&quot;&amp;&quot;&lt;/b&gt;"' in text
    assert "data-core-metadata" not in text
    (anchor,), _ = parse_html(text)
    assert anchor.get("data-yanked") == 'broken <b>"&"</b>'
    doc = json.loads(pages.project_json(page))
    assert doc["files"][0]["yanked"] == 'broken <b>"&"</b>'
    assert doc["files"][0]["core-metadata"] is False


def test_json_page_reads_back_into_the_same_state(index: Path) -> None:
    raw = (index / "cu130" / "causal-conv1d" / "index.json").read_bytes()
    page = pages.load_project_json(raw, "page")
    assert pages.project_json(page) == raw


def test_rebuilding_the_same_wheels_writes_nothing(tmp_path: Path, index: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in index.rglob("*")}
    report = build_index(wheels(tmp_path / "wheels"), index)
    assert report.written == () and report.added == () and len(report.unchanged) == 3
    assert {p: p.stat().st_mtime_ns for p in index.rglob("*")} == before


def test_read_wheel_reports_label_and_metadata(tmp_path: Path) -> None:
    path = make_wheel(
        tmp_path, "causal-conv1d", "1.7.0+cu130torch2.14", requires_dist=["torch==2.14.*"]
    )
    info = read_wheel(path)
    assert (info.channel, str(info.label), info.version) == (
        "cu130",
        "cu130torch2.14",
        "1.7.0+cu130torch2.14",
    )
    assert info.requires_dist == ("torch==2.14.*",)
    assert info.size == path.stat().st_size


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt", "not a wheel"),
        (
            lambda d: (
                (d / "x-1.0-py3-none-any.whl").write_bytes(b"PK junk")
                and d / "x-1.0-py3-none-any.whl"
            ),
            "not a readable wheel",
        ),
        (lambda d: make_wheel(d, "causal-conv1d", "1.7.0"), "has no local build label"),
        (lambda d: make_wheel(d, "causal-conv1d", "1.7.0+cu130"), "not a build label"),
        (
            lambda d: make_wheel(
                d,
                "causal-conv1d",
                "1.7.0+cu130torch2.14",
                filename="causal_conv1d-1.7.1+cu130torch2.14-py3-none-any.whl",
            ),
            r"file name says version 1\.7\.1\+cu130torch2\.14, METADATA says 1\.7\.0\+cu130",
        ),
        (
            lambda d: make_wheel(
                d,
                "causal-conv1d",
                "1.7.0+cu130torch2.14",
                filename="other-1.7.0+cu130torch2.14-py3-none-any.whl",
            ),
            "file name says project 'other'",
        ),
        (
            lambda d: make_wheel(
                d,
                "causal-conv1d",
                "1.7.0+cu130torch2.14",
                filename="causal_conv1d-1.7.0+cu130torch2.14.whl",
            ),
            "bad wheel file name",
        ),
    ],
    ids=[
        "not-whl",
        "not-zip",
        "no-label",
        "bad-label",
        "version-mismatch",
        "name-mismatch",
        "bad-filename",
    ],
)
def test_bad_wheels_are_refused_with_their_path(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(UserError, match=message) as caught:
        build_index([path], tmp_path / "index")
    assert str(path) in str(caught.value)
    assert not (tmp_path / "index").exists()


def test_two_different_files_with_one_name_are_refused(tmp_path: Path) -> None:
    a = make_wheel(tmp_path / "a", "causal-conv1d", "1.7.0+cputorch2.13")
    b = make_wheel(
        tmp_path / "b",
        "causal-conv1d",
        "1.7.0+cputorch2.13",
        files={"causal_conv1d/__init__.py": b"# other\n"},
    )
    with pytest.raises(UserError, match="two different files named"):
        read_wheels([a, b])
    # Identical copies are the same file, not a conflict.
    c = make_wheel(tmp_path / "c", "causal-conv1d", "1.7.0+cputorch2.13")
    assert len(read_wheels([a, c])) == 1


def test_wheel_store_rejects_strangers(tmp_path: Path) -> None:
    store = tmp_path / "wheels"
    make_wheel(store, "causal-conv1d", "1.7.0+cputorch2.13")
    (store / "README").write_text("x")
    with pytest.raises(UserError, match=r"README: not a wheel"):
        wheels_in(store)
    with pytest.raises(UserError, match="no such wheel folder"):
        wheels_in(tmp_path / "missing")
