"""The wheel checks: every disagreement with the cell is named, and honest wheels pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wheel_matrix import model
from wheel_matrix.check import check_wheel, inspect
from wheel_matrix.errors import UserError
from wheel_matrix.index.makewheel import make_wheel
from wheel_matrix.plan import Cell, find_cell

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
    return find_cell(model.load(small_matrix_path), "torch2.14-cu130")


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
    assert facts.cpython_symbols == ()


def test_every_fault_is_named(cell: Cell, tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        "1.7.0+cu130torch2.13",
        tag="cp311-cp311-linux_x86_64",
        requires_dist=["torch>=2.0"],
        filename="causal_conv1d-1.7.0+cu130torch2.14-cp311-cp311-linux_x86_64.whl",
    )
    with pytest.raises(UserError) as info:
        check_wheel(wheel, cell)
    message = str(info.value)
    for fault in (
        "file name says 1.7.0+cu130torch2.14, METADATA says 1.7.0+cu130torch2.13",
        "the cell needs 1.7.0+cu130torch2.14",
        "Requires-Dist pins no torch, the cell needs torch==2.14.*",
        "holds no compiled library",
        "ABI tag is cp311, expected abi3",
        "platform tag linux_x86_64 is not manylinux/x86_64",
    ):
        assert fault in message


def test_cpython_symbols_break_abi3(cell: Cell, tmp_path: Path) -> None:
    lib = _library(
        tmp_path,
        "extern void* PyLong_FromLong(long);\nvoid* one(void) { return PyLong_FromLong(1); }\n",
    )
    wheel = make_wheel(
        tmp_path / "w",
        "causal-conv1d",
        cell.version,
        tag=TAG,
        requires_dist=["torch==2.14.*"],
        files={"causal_conv1d/_C.abi3.so": lib},
    )
    assert inspect(wheel).cpython_symbols == ("PyLong_FromLong",)
    with pytest.raises(UserError, match=r"uses the CPython API \(PyLong_FromLong\)"):
        check_wheel(wheel, cell)
