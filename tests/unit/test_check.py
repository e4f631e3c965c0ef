"""The wheel checks: every disagreement with the cell is named, and honest wheels pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wheel_matrix.configuration import matrix_file
from wheel_matrix.errors import UserError
from wheel_matrix.plan import Cell, find_cell
from wheel_matrix.wheel.check import check_wheel, non_abi3_symbols
from wheel_matrix.wheel.make import make_wheel

TAG = "cp310-abi3-manylinux_2_28_x86_64"


def _library(tmp_path: Path, body: str) -> bytes:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    source = tmp_path / "lib.c"
    source.write_text(body)
    out = tmp_path / "lib.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(source)], check=True)
    return out.read_bytes()


@pytest.fixture
def cell(small_matrix_path: Path) -> Cell:
    return find_cell(matrix_file.load(small_matrix_path), "torch2.14-cu130")


def test_honest_wheel_passes(cell: Cell, tmp_path: Path) -> None:
    lib = _library(tmp_path, "int scale(int x) { return 2 * x; }\n")
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        cell.version,
        tag=TAG,
        requires_dist=["torch==2.14.*"],
        files={"causal_conv1d/_C.abi3.so": lib},
        description="# causal-conv1d\n",
    )
    facts = check_wheel(wheel, cell)
    assert facts.libraries == ("causal_conv1d/_C.abi3.so",)
    assert non_abi3_symbols(wheel) == ()


def test_a_name_that_disagrees_with_metadata_is_refused_first(cell: Cell, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        "1.7.0+cu130torch2.13",
        tag=TAG,
        filename=f"causal_conv1d-1.7.0+cu130torch2.14-{TAG}.whl",
    )
    with pytest.raises(UserError, match=r"file name says version 1\.7\.0\+cu130torch2\.14, "
                       r"METADATA says 1\.7\.0\+cu130torch2\.13"):
        check_wheel(wheel, cell)


def test_every_fault_is_named(cell: Cell, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        "1.7.0+cu130torch2.13",
        tag="cp311-cp311-linux_x86_64",
        requires_dist=["torch>=2.0"],
    )
    with pytest.raises(UserError) as info:
        check_wheel(wheel, cell)
    message = str(info.value)
    for fault in (
        "the cell needs 1.7.0+cu130torch2.14",
        "Requires-Dist pins no torch, the cell needs torch==2.14.*",
        "holds no compiled library",
        "ABI tag is cp311, expected abi3",
        "platform tag linux_x86_64 is not manylinux/x86_64",
    ):
        assert fault in message


def test_symbols_outside_the_stable_abi_break_abi3(cell: Cell, tmp_path: Path) -> None:
    # A private CPython function: not in the stable ABI, so the abi3 tag would lie.
    lib = _library(
        tmp_path,
        "extern void* _PyLong_Copy(void*);\nvoid* one(void* x) { return _PyLong_Copy(x); }\n",
    )
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        cell.version,
        tag=TAG,
        requires_dist=["torch==2.14.*"],
        files={"causal_conv1d/_C.abi3.so": lib},
    )
    assert non_abi3_symbols(wheel) == ("_PyLong_Copy",)
    with pytest.raises(UserError, match=r"outside the stable ABI \(_PyLong_Copy\)"):
        check_wheel(wheel, cell)


def test_a_wheel_needing_a_newer_glibc_than_torch_is_no_release(
    cell: Cell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = _library(tmp_path, "int scale(int x) { return 2 * x; }\n")
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        cell.version,
        tag="cp310-abi3-manylinux_2_35_x86_64",  # torch 2.14's own wheels are manylinux_2_28
        requires_dist=["torch==2.14.*"],
        files={"causal_conv1d/_C.abi3.so": lib},
        description="# causal-conv1d\n",
    )
    check_wheel(wheel, cell)  # fine for the machine that built it ...
    assert "needs glibc 2.35, newer than torch 2.14's own wheels" in capsys.readouterr().err
    with pytest.raises(UserError, match=r"needs glibc 2\.35"):
        check_wheel(wheel, cell, release=True)  # ... but not for a release
