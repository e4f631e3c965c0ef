"""Intake: what doesn't belong in a channel is refused before anything is written, as one line.

Immutability holds for a version (as PEP 440 compares it) and tag, whatever
the file's name; a channel holds only its index's project and the plan's
compute platforms; a wheel's zip may not reach outside its install target;
and a small wheel cannot make the index read or publish a huge METADATA.
"""

from __future__ import annotations

import re
import shutil
import struct
import time
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wheel_matrix.cli import main
from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index, journal
from wheel_matrix.index.store import PlanFacts, wheels_in
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.facts import MAX_METADATA, read_wheel
from wheel_matrix.wheel.make import make_wheel

NOW = datetime(2025, 3, 1, tzinfo=UTC)
PUBLISHED = "1.7.0+cu130torch2.14"
TOLD = PlanFacts(
    "causal-conv1d",
    {"2.14": "cu130"},
    "https://download.pytorch.org/whl/{compute}",
    channels=("cpu", "cu126", "cu130"),
)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", PUBLISHED)], tmp_path / "index",
                now=NOW, told=TOLD)
    return tmp_path / "index"


def refused(index: Path, wheels: list[Path], match: str, told: PlanFacts | None = TOLD) -> None:
    """Publishing ``wheels`` fails with ``match``, quickly, and changes nothing."""
    before = snapshot(index)
    start = time.monotonic()
    with pytest.raises(UserError, match=match) as info:
        build_index(wheels, index, now=NOW, told=told)
    assert time.monotonic() - start < 1.0
    assert "\n" not in str(info.value)
    assert snapshot(index) == before
    assert not journal.staging_path(index).exists()
    assert verify_index(str(index)).ok


def other_bytes(folder: Path, version: str, name: str = "causal-conv1d") -> Path:
    files = {"causal_conv1d/__init__.py": f"# rebuilt as {version}\n".encode()}
    return make_wheel(folder, name, version, files=files)


@pytest.mark.parametrize("spelling", ["1.7.0.0+cu130torch2.14", "1.7+cu130torch2.14"])
def test_another_spelling_of_a_published_version_is_refused(
    tmp_path: Path, index: Path, spelling: str
) -> None:
    wheel = other_bytes(tmp_path / "new", spelling)
    refused(
        index,
        [wheel],
        rf"{re.escape(wheel.name)}: version {re.escape(spelling)} for py3-none-any is already "
        r"published as "
        r"causal_conv1d-1\.7\.0\+cu130torch2\.14-py3-none-any\.whl in cu130/; a published "
        "version never gets another file",
    )


def test_label_in_capitals_is_refused(tmp_path: Path, index: Path) -> None:
    made = other_bytes(tmp_path / "new", "1.7.0+CU130TORCH2.14")
    wheel = made.rename(made.with_name(made.name.replace("cu130torch2.14", "CU130TORCH2.14")))
    refused(index, [wheel], "not a normalised wheel file name")


def test_two_spellings_in_one_batch_are_refused(tmp_path: Path) -> None:
    a = other_bytes(tmp_path / "a", "1.8.0+cu130torch2.14")
    b = other_bytes(tmp_path / "b", "1.8+cu130torch2.14")
    with pytest.raises(UserError, match=r"1\.8\.0\+cu130torch2\.14 for py3-none-any is already "
                       r"in causal_conv1d-1\.8\+cu130torch2\.14-py3-none-any\.whl"):
        build_index([a, b], tmp_path / "index", told=TOLD)
    assert not (tmp_path / "index" / "cu130").exists()


def test_the_same_version_for_another_tag_is_welcome(tmp_path: Path, index: Path) -> None:
    other = make_wheel(tmp_path / "x", "causal-conv1d", PUBLISHED, tag="cp310-abi3-linux_x86_64")
    assert len(build_index([other], index, told=TOLD).added) == 1
    assert verify_index(str(index)).ok


def test_metadata_version_spelled_otherwise_than_the_file_name(tmp_path: Path) -> None:
    made = make_wheel(tmp_path / "w", "causal-conv1d", "1.8.0.0+cu130torch2.14")
    liar = rewritten(made, {"METADATA": lambda b: b.replace(b"1.8.0.0+", b"1.8.0.00+")})
    with pytest.raises(UserError, match=r"METADATA Version '1\.8\.0\.00\+cu130torch2\.14' is not"):
        read_wheel(liar)


@pytest.mark.parametrize("told", [TOLD, None])
def test_another_projects_wheel_is_refused(tmp_path: Path, index: Path, told: PlanFacts) -> None:
    # Without the plan's word, channels.json says whose index this is.
    torch = make_wheel(tmp_path / "t", "torch", "2.14.0+cu130torch2.14")
    refused(index, [torch], r"a wheel of torch, but this index is for causal-conv1d", told)


def test_a_new_index_holds_one_project(tmp_path: Path) -> None:
    ours = make_wheel(tmp_path / "w", "causal-conv1d", PUBLISHED)
    torch = make_wheel(tmp_path / "w", "torch", "2.14.0+cu130torch2.14")
    with pytest.raises(UserError, match=r"wheels of 2 projects \(causal-conv1d, torch\)"):
        build_index([ours, torch], tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_a_compute_platform_the_plan_lacks_is_refused(tmp_path: Path, index: Path) -> None:
    stray = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.0+cu999torch2.14")
    refused(index, [stray], r"compute platform cu999 .* none of the plan's channels "
                            r"\(cpu, cu126, cu130\)")


def test_non_ascii_project_name_is_refused(tmp_path: Path, index: Path) -> None:
    # In the file name...
    wheel = make_wheel(tmp_path / "x", "causal-cönv1d", PUBLISHED)
    refused(index, [wheel], "is not a valid project name")
    # ... and in METADATA only.
    made = make_wheel(tmp_path / "y", "causal-conv1d", "1.7.1+cu130torch2.14")
    liar = rewritten(made, {"METADATA": lambda b: b.replace(b"Name: causal-conv1d",
                                                            "Name: causal-cönv1d".encode())})
    refused(index, [liar], r"METADATA Name 'causal-cönv1d' is not a valid project name")


def rewritten(
    wheel: Path, edits: dict[str, object], extra: tuple[zipfile.ZipInfo, ...] = ()
) -> Path:
    """A copy of ``wheel`` with members edited (by name suffix) and ``extra`` members added."""
    out = wheel.parent / "edited" / wheel.name
    out.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            for suffix, edit in edits.items():
                if info.filename.endswith(suffix):
                    data = edit(data)  # type: ignore[operator]
            dst.writestr(info, data)
        for info in extra:
            dst.writestr(info, b"x")
    return out


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (zipfile.ZipInfo("../../evil.pth"), "a path with '..'"),
        (zipfile.ZipInfo("causal_conv1d/../../../evil.py"), "a path with '..'"),
        (zipfile.ZipInfo("/etc/profile.d/evil.sh"), "an absolute path"),
        (zipfile.ZipInfo("C:/evil.bat"), "an absolute path"),
        (zipfile.ZipInfo("causal_conv1d\\..\\evil.py"), "a backslash"),
        (symlink("causal_conv1d/link"), "a symbolic link"),
    ],
)
def test_members_reaching_outside_the_target_are_refused(
    tmp_path: Path, index: Path, member: zipfile.ZipInfo, problem: str
) -> None:
    made = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.1+cu130torch2.14")
    wheel = rewritten(made, {}, (member,))
    refused(index, [wheel], rf"member .* is {problem}")


def test_a_member_twice_is_refused(tmp_path: Path, index: Path) -> None:
    made = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.1+cu130torch2.14")
    with pytest.warns(UserWarning, match="Duplicate name"):
        wheel = rewritten(made, {}, (zipfile.ZipInfo("causal_conv1d/__init__.py"),))
    refused(index, [wheel], r"member 'causal_conv1d/__init__.py' is in the zip twice")


def test_huge_metadata_is_refused_without_reading_it(tmp_path: Path, index: Path) -> None:
    # 50 MB of METADATA compresses to about 50 KB: a small wheel, a huge .metadata.
    made = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.1+cu130torch2.14")
    padding = b"Description: " + b"a" * (50 << 20) + b"\n"
    bomb = rewritten(made, {"METADATA": lambda b: b.replace(b"\n\n", b"\n" + padding + b"\n", 1)})
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        refused(index, [bomb], rf"METADATA is \d+ bytes, more than the {MAX_METADATA} allowed")
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20


def test_metadata_that_lies_about_its_size_is_refused(tmp_path: Path, index: Path) -> None:
    made = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.1+cu130torch2.14")
    padding = b"Description: " + b"a" * (2 * MAX_METADATA) + b"\n"
    big = rewritten(made, {"METADATA": lambda b: b.replace(b"\n\n", b"\n" + padding + b"\n", 1)})
    data = bytearray(big.read_bytes())
    # Declare 1000 bytes in the central directory (uncompressed size: offset 24).
    at = data.index(b"PK\x01\x02", data.index(b".dist-info/METADATA") + 1)
    while not data[at + 46 : at + 46 + 80].split(b"PK")[0].endswith(b"METADATA"):
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, 1000)
    big.write_bytes(bytes(data))
    refused(index, [big], r"not a readable wheel \(zip\) file")


def test_hidden_files_in_the_wheel_store_are_refused(tmp_path: Path) -> None:
    store = tmp_path / "wheels"
    make_wheel(store, "causal-conv1d", PUBLISHED)
    (store / ".causal_conv1d-1.7.1+cu130torch2.14-py3-none-any.whl.partial").write_bytes(b"PK")
    with pytest.raises(UserError, match=r"\.partial: a hidden file in the wheel store"):
        wheels_in(store)


def test_cli_index_names_the_bad_wheel_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "wheels"
    store.mkdir()
    shutil.copy(make_wheel(tmp_path / "t", "torch", "2.14.0+cu130torch2.14"), store)
    code = main(["index", "--wheels", str(store), "--out", str(tmp_path / "index")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "a wheel of torch, but this index is for" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "index").exists()
