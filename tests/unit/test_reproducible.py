"""Reproducible wheels without a build: the canonical archive, the build information, git state.

The archive ``finalize`` writes must depend on the files' names, bytes and
executable bits only; the build information must read back what was written
and refuse anything else in one line; the source state comes from real git.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from wheel_matrix.backends import provenance, source
from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import UserError
from wheel_matrix.plan import cells
from wheel_matrix.plan.decisions import decide
from wheel_matrix.wheel import build_info, reproducible
from wheel_matrix.wheel.build_info import BuildInfo, Toolchain
from wheel_matrix.wheel.make import make_wheel

VERSION = "1.7.0+cputorch2.15"
DIST_INFO = f"causal_conv1d-{VERSION}.dist-info"
EPOCH = 1_764_000_000  # 2025-11-24T16:00:00Z

TOOLS = Toolchain(
    compiler="c++ (Debian 12.2.0-14+deb12u1) 12.2.0",
    nvcc=None,
    torch="2.15.0",
    setuptools="84.2.1",
    auditwheel="6.8.2",
)
INFO = BuildInfo(
    cell="torch2.15-cpu-x86_64",
    arch_list="",
    commit="c01b973698c9101dfbb03d93c804e5e4e038bfe9",
    source_date_epoch=EPOCH,
    dirty=False,
    toolchain=TOOLS,
)
FILES = {
    "causal_conv1d/__init__.py": b'__version__ = "1.7.0"\n',
    "causal_conv1d/_C.abi3.so": b"\x7fELF not really",
}


def messy_wheel(folder: Path, *, reverse: bool, mode: int, date: tuple[int, ...]) -> Path:
    """The same files as an auditwheel output might hold them: any order, modes, times, dirs."""
    made = make_wheel(folder / "made", "causal-conv1d", VERSION, files=FILES,
                      tag="cp311-abi3-manylinux_2_35_x86_64")
    with zipfile.ZipFile(made) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    out = folder / made.name
    with zipfile.ZipFile(out, "w") as archive:
        dirs = zipfile.ZipInfo("causal_conv1d/", date_time=date)  # type: ignore[arg-type]
        dirs.external_attr = (0o40000 | mode) << 16
        archive.writestr(dirs, b"")
        for name, data in (reversed(members) if reverse else members):
            info = zipfile.ZipInfo(name, date_time=date)  # type: ignore[arg-type]
            executable = name.endswith(".so")
            info.external_attr = ((0o100000 | mode | (0o111 if executable else 0)) << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out


def test_finalize_depends_on_the_files_only(tmp_path: Path) -> None:
    one = messy_wheel(tmp_path / "one", reverse=False, mode=0o664, date=(2026, 11, 29, 18, 55, 0))
    two = messy_wheel(tmp_path / "two", reverse=True, mode=0o600, date=(2027, 1, 2, 3, 4, 5))
    assert one.read_bytes() != two.read_bytes()
    a = reproducible.finalize(one, INFO, tmp_path / "a")
    b = reproducible.finalize(two, INFO, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        # Packages first, then .dist-info, RECORD last; no directory entries.
        assert names == [
            "causal_conv1d/_C.abi3.so",  # byte order: "C" before "_"
            "causal_conv1d/__init__.py",
            f"{DIST_INFO}/METADATA",
            f"{DIST_INFO}/WHEEL",
            f"{DIST_INFO}/build-info.json",
            f"{DIST_INFO}/RECORD",
        ]
        assert {i.date_time for i in infos} == {(2025, 11, 24, 16, 0, 0)}
        modes = {i.filename: i.external_attr >> 16 for i in infos}
        assert modes["causal_conv1d/_C.abi3.so"] == 0o100755
        assert modes["causal_conv1d/__init__.py"] == 0o100644
        assert build_info.from_json(archive.read(f"{DIST_INFO}/build-info.json"), "x") == INFO
        # RECORD lists every other member with its real hash and size.
        rows = archive.read(f"{DIST_INFO}/RECORD").decode().splitlines()
        assert rows[-1] == f"{DIST_INFO}/RECORD,,"
        for row in rows[:-1]:
            name, digest, size = row.split(",")
            data = archive.read(name)
            assert int(size) == len(data)
            assert digest == reproducible._record_hash(data)
    # Nothing staged is left beside the result.
    assert [p.name for p in (tmp_path / "a").iterdir()] == [a.name]


def test_another_date_is_another_wheel(tmp_path: Path) -> None:
    one = messy_wheel(tmp_path / "one", reverse=False, mode=0o644, date=(2026, 1, 1, 0, 0, 0))
    a = reproducible.finalize(one, INFO, tmp_path / "a")
    later = BuildInfo(**{**INFO.__dict__, "source_date_epoch": EPOCH + 2})
    b = reproducible.finalize(one, later, tmp_path / "b")
    assert a.read_bytes() != b.read_bytes()  # the commit's date is in every entry
    assert reproducible.differences(a, b, ("a", "b")) == [
        f"{DIST_INFO}/RECORD", f"{DIST_INFO}/build-info.json"
    ]


def test_differences_name_changed_and_missing_members(tmp_path: Path) -> None:
    a = make_wheel(tmp_path / "a", "causal-conv1d", VERSION, files={"x/a.py": b"1", "x/b.py": b"2"})
    b = make_wheel(tmp_path / "b", "causal-conv1d", VERSION, files={"x/a.py": b"1", "x/c.py": b"3"})
    assert reproducible.differences(a, b, ("given", "rebuilt")) == [
        f"{DIST_INFO}/RECORD",
        "x/b.py (only in given)",
        "x/c.py (only in rebuilt)",
    ]
    assert reproducible.differences(a, a, ("given", "rebuilt")) == []


def test_build_info_round_trip_and_is_stable() -> None:
    raw = INFO.to_json()
    assert build_info.from_json(raw, "w") == INFO
    assert raw == INFO.to_json()
    data = json.loads(raw)
    # Nothing about where or when it was built: no paths, no build time, no host.
    assert set(data) == {"format", "cell", "arch_list", "source", "toolchain"}
    assert set(data["toolchain"]) == {
        "compiler", "nvcc", "torch", "setuptools", "auditwheel"
    }


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not build information"),
        (b'{"format": 2}', "not build information"),
        (b'{"format": 1}', "lacks its source or toolchain"),
        (None, "bad cell"),
        (b"{" * 100000, "not JSON"),
    ],
)
def test_bad_build_info_is_one_line(raw: bytes | None, fault: str) -> None:
    if raw is None:  # a cell id carrying a newline
        data = json.loads(INFO.to_json())
        data["cell"] = "torch2.15-cpu-x86_64\nrm -rf /"
        raw = json.dumps(data).encode()
    with pytest.raises(UserError) as caught:
        build_info.from_json(raw, "w.whl")
    assert fault in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_fields_are_refused() -> None:
    for key, value in [("commit", "HEAD"), ("date", -1), ("date", True), ("dirty", "no")]:
        data = json.loads(INFO.to_json())
        data["source"][key] = value
        with pytest.raises(UserError):
            build_info.from_json(json.dumps(data).encode(), "w.whl")


def test_toolchain_differences() -> None:
    other = Toolchain(**{**TOOLS.__dict__, "compiler": "c++ (GCC) 14.2.1", "nvcc": "13.2.78"})
    assert TOOLS.differences(other) == [
        "compiler c++ (Debian 12.2.0-14+deb12u1) 12.2.0 != c++ (GCC) 14.2.1",
        "nvcc None != 13.2.78",
    ]


def test_version_banners() -> None:
    nvcc = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 13.2, V13.2.78\n"
    assert provenance.nvcc_version(nvcc) == "13.2.78"
    banner = "auditwheel 6.8.2 installed at /x (python 3.12)"
    assert provenance.auditwheel_version(banner) == "6.8.2"
    script_output = (
        "--- c++\nc++ (GCC) 14.2.1 20250110 (Red Hat 14.2.1-7)\nCopyright\n"
        f"--- nvcc\n{nvcc}--- auditwheel\nauditwheel 6.8.2 installed at /opt\n"
    )
    matrix = matrix_file.load()
    cell = next(c for c in cells(matrix) if c.cuda is not None)
    spec = decide(cell, "", matrix.test_arch)
    tools = provenance.image_toolchain(spec, script_output)
    assert tools.compiler == "c++ (GCC) 14.2.1 20250110 (Red Hat 14.2.1-7)"
    assert tools.nvcc == "13.2.78"
    assert tools.auditwheel == "6.8.2"
    assert tools.torch == cell.torch.version


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_AUTHOR_DATE": f"{EPOCH} +0000", "GIT_COMMITTER_DATE": f"{EPOCH} +0000",
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd),
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text("ignored/\n")
    (root / "setup.py").write_text("print('hi')\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_source_state_of_a_clean_checkout(repo: Path) -> None:
    state = source.state(repo)
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.epoch == EPOCH
    assert not state.dirty
    (repo / "ignored").mkdir()
    (repo / "ignored" / "x").write_text("build output\n")
    assert not source.state(repo).dirty


@pytest.mark.parametrize("change", ["modified", "untracked"])
def test_source_state_of_a_dirty_checkout(repo: Path, change: str) -> None:
    if change == "modified":
        (repo / "setup.py").write_text("print('changed')\n")
    else:
        (repo / "new.py").write_text("")
    state = source.state(repo)
    assert state.dirty and state.commit == git(repo, "rev-parse", "HEAD")


def test_source_state_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source.state(tmp_path) == source.SourceState(None, reproducible.ZIP_EPOCH, False)
    # A folder inside a checkout is not that checkout's source (nox puts TMPDIR in one).
    outer = tmp_path / "outer"
    (outer / "unpacked").mkdir(parents=True)
    git(outer, "init", "-q")
    git(outer, "commit", "-q", "--allow-empty", "-m", "outer")
    assert source.state(outer / "unpacked").commit is None
    assert source.state(outer).commit is not None
    assert not source.is_checkout(outer / "unpacked") and source.is_checkout(outer)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source.state(tmp_path).epoch == 1_700_000_000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UserError, match="SOURCE_DATE_EPOCH"):
        source.state(tmp_path)


def test_checkout_of_a_commit(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    (repo / "setup.py").write_text("print('two')\n")
    git(repo, "commit", "-q", "-am", "two")
    assert source.has_commit(repo, first)
    assert not source.has_commit(repo, "0" * 40)
    assert not source.has_commit(repo, "--help")
    dest = tmp_path / "tree"
    source.checkout(repo, first, dest)
    assert (dest / "setup.py").read_text() == "print('hi')\n"
    state = source.state(dest)
    assert state.commit == first and not state.dirty and state.epoch == EPOCH
    # The repository itself gained no worktree, branch or ref.
    assert git(repo, "worktree", "list").count("\n") == 0
    assert "tree" not in git(repo, "for-each-ref")


def test_record_hash_matches_pip() -> None:
    # PEP 376's RECORD hash: urlsafe base64 of the digest, without padding.
    data = b"abc"
    digest = hashlib.sha256(data).digest()
    assert reproducible._record_hash(data) == "sha256=ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert len(digest) == 32
