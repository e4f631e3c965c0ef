"""verify catches every tamper it can, each as a fault (never a traceback), on a read-only index;
and no command locks or writes a folder that isn't an index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from index_tampering import plant_file, two_channel_index

from wheel_matrix.cli import main
from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index, deploy, journal
from wheel_matrix.index.serve import serving
from wheel_matrix.index.store import set_yanked
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

CU130 = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"
PROJECT = "cu130/causal-conv1d"


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return two_channel_index(tmp_path)


def faults(index: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """verify's faults through the command line: exit 1, one line each, no traceback."""
    code = main(["verify", str(index)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    found = [line.removeprefix("error: ") for line in err.splitlines() if line.startswith("error:")]
    assert code == (1 if found else 0), err
    return found


def edit_json(path: Path, change: object) -> None:
    doc = json.loads(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))


def test_a_clean_index_has_no_faults(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Files every index root may hold besides its channels are not strays.
    (index / "CNAME").write_text("wheels.example.org\n")
    assert faults(index, capsys) == []


def test_url_changed_in_the_json_page_only(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "causal_conv1d-1.7.0+cputorch2.13-py3-none-any.whl"
    shutil.copy(index / "cpu/causal-conv1d" / other, index / PROJECT / "copy.whl")

    def point_elsewhere(doc: dict[str, list[dict[str, str]]]) -> None:
        doc["files"][0]["url"] = "copy.whl"

    edit_json(index / PROJECT / "index.json", point_elsewhere)
    found = faults(index, capsys)
    assert f"{PROJECT}/{CU130}: JSON and HTML pages disagree about this file" in found


def test_files_and_channel_folders_no_page_lists(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (index / PROJECT / "evil-1.0-py3-none-any.whl").write_bytes(b"PK")
    (index / "cu130" / "stray.txt").write_text("x")
    (index / "cu999").mkdir()
    (index / "cu999" / "index.html").write_text("<html></html>")
    (index / "notes.txt").write_text("x")
    found = faults(index, capsys)
    assert set(found) == {
        f"{PROJECT}/evil-1.0-py3-none-any.whl: in the index but listed by no page",
        "cu130/stray.txt: in the index but listed by no page",
        "cu999/: a channel folder channels.json doesn't list",
        "notes.txt: in the index but listed by no page",
    }


def test_a_wheel_replaced_by_a_link_out_of_the_index(
    tmp_path: Path, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = index / PROJECT / CU130
    outside = tmp_path / "outside.whl"
    wheel.rename(outside)
    wheel.symlink_to(outside)
    found = faults(index, capsys)
    assert f"{PROJECT}/{CU130}: linked but missing" in found
    assert (
        f"{PROJECT}/{CU130}: a symbolic link to outside the index (serve refuses it): the "
        "index holds files"
    ) in found
    # What the fault is about: the server answers 404 for it.
    with serving(index) as url, pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url + f"{PROJECT}/{CU130.replace('+', '%2B')}", timeout=10)
    assert info.value.code == 404


@pytest.mark.parametrize(
    ("garbage", "expected"),
    [
        (b"garbage", "not a channels.json file: Expecting value"),
        (b"\xff\xfe\x00", "not a channels.json file"),
        (b"[]", "the top level is not an object"),
        (b'{"channels": {"cu130": 5}}', "channel 'cu130' is not a channel name with projects"),
        (b'{"channels": {"../etc": {}}}', "channel '../etc' is not a channel name"),
        (b'{"channels": {"cu130": {"causal-conv1d": [1]}}}', "1 is not a version entry"),
        (b'{"channels": {"cu130": {"causal-conv1d": [{"version": "banana", "yanked": false}]}}}',
         "not a PEP 440 version: 'banana'"),
        (b'{"channels": {}, "torch_index": "https://x.org/{evil}"}', "unknown placeholder"),
        (b"[" * 100_000 + b"]" * 100_000, "not a channels.json file"),
    ],
)
def test_garbage_channels_json_is_a_fault(
    index: Path, capsys: pytest.CaptureFixture[str], garbage: bytes, expected: str
) -> None:
    (index / "channels.json").write_bytes(garbage)
    (fault,) = faults(index, capsys)
    assert fault.startswith("channels.json: ") and expected in fault


@pytest.mark.parametrize(
    "page", ["index.html", "cu130/index.html", f"{PROJECT}/index.html", f"{PROJECT}/index.json"]
)
def test_a_page_that_is_not_utf8_is_a_fault(
    index: Path, capsys: pytest.CaptureFixture[str], page: str
) -> None:
    (index / page).write_bytes(b"\xff\xfe<html>\x80")
    found = faults(index, capsys)
    assert len(found) == 1 and found[0].startswith(page)


def test_metadata_version_banana_is_a_fault(
    tmp_path: Path, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = index / PROJECT / CU130
    members = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            if name.endswith("METADATA"):
                data = data.replace(b"Version: 1.7.0+cu130torch2.14", b"Version: banana")
            archive.writestr(name, data)
    found = faults(index, capsys)
    assert f"{PROJECT}/{CU130}: METADATA Version 'banana': Invalid version: 'banana'" in found


def test_json_page_listing_a_file_name_without_a_version(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rename(doc: dict[str, list[dict[str, str]]]) -> None:
        name = "causal_conv1d-banana-py3-none-any.whl"
        doc["files"][0]["filename"] = doc["files"][0]["url"] = name

    edit_json(index / PROJECT / "index.json", rename)
    found = faults(index, capsys)
    assert any("lists 'causal_conv1d-banana-py3-none-any.whl', not a wheel file name" in f
               for f in found)


def test_a_second_spelling_of_a_version_planted_by_hand(
    tmp_path: Path, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"causal_conv1d/__init__.py": b"# other bytes\n"}
    spelled = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.0.0+cu130torch2.14", files=files)
    plant_file(index, "cu130", spelled)
    found = faults(index, capsys)
    assert (
        f"{PROJECT}/{spelled.name}: version 1.7.0.0+cu130torch2.14 for py3-none-any is also "
        f"{CU130}: one of them is a second file of a published version"
    ) in found


def test_a_link_climbing_out_encoded(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = index / PROJECT / "index.html"
    page.write_text(page.read_text().replace('href="', 'href="%2e%2e/%2e%2e/%2e%2e/', 1))
    assert any("link leaves the index" in f for f in faults(index, capsys))


def test_a_channel_option_that_is_a_path(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(index), "--channel", "../.."]) == 2
    assert "--channel '../..': not a channel name" in capsys.readouterr().err


@pytest.fixture
def read_only(index: Path) -> Iterator[Path]:
    """The index behind a real read-only bind mount (as root), else with its write bits off."""
    mount = index.parent / "ro"
    mount.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "--bind", "-o", "ro", str(index), str(mount)],
                              capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount read-only here: {done.stderr.decode().strip()}")
        try:
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], check=True)
        return
    for path in [index, *index.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        yield index
    finally:
        for path in [index, *index.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_verify_on_a_read_only_index(
    read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(OSError):  # it really is read-only
        (read_only / "probe").write_text("x")
    assert faults(read_only, capsys) == []
    assert not (read_only / journal.LOCK).exists() or (read_only / journal.LOCK).stat().st_size == 0


def test_a_publish_onto_a_read_only_index_is_one_line(
    tmp_path: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "new"
    make_wheel(store, "causal-conv1d", "1.7.1+cu130torch2.14")
    code = main(["index", "--wheels", str(store), "--out", str(read_only)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ")


# --- no command locks or writes a folder that isn't an index ------------------------------


def test_yank_refuses_a_file_and_makes_no_lock_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/bash\n")
    assert main(["yank", "1.7.0", "--root", str(passwd)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {passwd}: not an index folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


@pytest.mark.parametrize("command", ["yank", "unyank"])
def test_yank_refuses_what_is_not_an_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    missing, plain = tmp_path / "missing", tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("x")
    assert main([command, "1.7.0", "--root", str(missing)]) == 2
    assert f"{missing}: no index here" in capsys.readouterr().err
    assert main([command, "1.7.0", "--root", str(plain)]) == 2
    assert f"{plain}: not an index folder" in capsys.readouterr().err
    assert not missing.exists() and sorted(os.listdir(plain)) == ["notes.txt"]


def test_index_and_pages_refuse_a_folder_holding_other_things(tmp_path: Path, index: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("x")
    (home / "thesis.tex").write_text("x")
    wheel = make_wheel(tmp_path / "n", "causal-conv1d", "1.7.1+cputorch2.13")
    with pytest.raises(UserError, match=r"home: not an index folder \(it holds thesis.tex\)"):
        build_index([wheel], home)
    with pytest.raises(UserError, match=r"home: not an index folder \(it holds thesis.tex\)"):
        deploy.publish_pages(index, home)
    with pytest.raises(UserError, match="no index here"):
        set_yanked(home / "nothing", "1.7.0")
    assert sorted(os.listdir(home)) == [".bashrc", "thesis.tex"]
    # A new folder, an empty one and a Pages checkout may become an index.
    (tmp_path / "empty").mkdir()
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / ".git").mkdir()
    (tmp_path / "checkout" / "CNAME").write_text("wheels.example.org\n")
    build_index([wheel], tmp_path / "new")
    build_index([wheel], tmp_path / "empty")
    deploy.publish_pages(index, tmp_path / "checkout")
    assert verify_index(str(tmp_path / "checkout")).ok
