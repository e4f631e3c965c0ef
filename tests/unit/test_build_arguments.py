"""`build` refuses each bad argument before any work: one line, within a second, nothing made."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wheel_matrix.cli import main
from wheel_matrix.cli.build_checks import MAX_JOBS_LIMIT

CELL = "torch2.14-cu130"


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in ("TORCH_CUDA_ARCH_LIST", "MAX_JOBS", "WHEEL_MATRIX_CACHE"):
        monkeypatch.delenv(name, raising=False)
    # Should a check ever let a bad argument through, pip fails at once instead of
    # downloading torch: the test then fails on its time and on what it created.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    return tmp_path / "dist", tmp_path / "cache"


def build(
    folders: tuple[Path, Path], small_matrix_path: Path, *extra: str
) -> tuple[int, float]:
    dist, cache = folders
    argv = ["build", "--matrix", str(small_matrix_path), "--cell", CELL, "--backend", "host"]
    argv += ["--dist", str(dist), "--cache", str(cache), *extra]
    start = time.monotonic()
    code = main(argv)
    return code, time.monotonic() - start


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--arch-list", "banana"], "--arch-list 'banana': 'banana' is not a GPU arch"),
        (["--arch-list", "-1.0"], "'-1.0' is not a GPU arch"),
        (["--arch-list", "9.0;;"], "--arch-list '9.0;;': an empty entry"),
        (["--arch-list", "sm_90"], "'sm_90' is not a GPU arch such as 9.0, 9.0a or 9.0+PTX "
                                   "(write 9.0)"),
        (["--arch-list", ""], "--arch-list '': empty"),
        (["--arch-list", "9.0\nRUN id"], "is not a GPU arch"),
        (["--jobs", "-1"], "--jobs '-1': expected a number of jobs from 0 (automatic) to"),
        (["--jobs", "99999999999"], "--jobs '99999999999': expected a number of jobs"),
        (["--jobs", str(MAX_JOBS_LIMIT + 1)], "expected a number of jobs"),
        (["--torch-index", "https://x.org/{banana}"],
         "--torch-index: unknown placeholder '{banana}' (only {compute})"),
        (["--torch-index", "ftp://x.org/{compute}"], "is not an http(s) URL"),
    ],
)
def test_bad_argument_is_one_line_before_any_work(
    folders: tuple[Path, Path],
    small_matrix_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    expected: str,
) -> None:
    code, seconds = build(folders, small_matrix_path, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert seconds < 1.0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert not any(folder.exists() for folder in folders)  # nothing created


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TORCH_CUDA_ARCH_LIST", "9.0,10.0", "$TORCH_CUDA_ARCH_LIST '9.0,10.0':"),
        ("MAX_JOBS", "lots", "$MAX_JOBS 'lots': expected a number of jobs"),
    ],
)
def test_bad_variable_is_one_line(
    folders: tuple[Path, Path],
    small_matrix_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, seconds = build(folders, small_matrix_path)
    assert (code, seconds < 1.0) == (2, True)
    assert expected in capsys.readouterr().err
    assert not any(folder.exists() for folder in folders)


@pytest.mark.parametrize("which", ["dist", "dist-wheels", "cache", "below-a-file"])
def test_output_folders_that_are_files(
    folders: tuple[Path, Path],
    small_matrix_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
) -> None:
    dist, cache = folders
    if which == "dist":
        dist.write_text("a file")
        expected = f"--dist {dist}: not a folder"
    elif which == "dist-wheels":
        dist.mkdir()
        (dist / "wheels").write_text("a file")
        expected = f"--dist {dist / 'wheels'}: not a folder"
    elif which == "cache":
        cache.write_text("a file")
        expected = f"--cache {cache}: not a folder"
    else:
        (dist.parent / "file").write_text("a file")
        dist = dist.parent / "file" / "dist"
        expected = f"--dist {dist}: not a folder ({dist.parent} is not a folder)"
    code, seconds = build((dist, cache), small_matrix_path)
    err = capsys.readouterr().err
    assert (code, seconds < 1.0) == (2, True)
    assert err.strip().splitlines() == [f"error: {expected}"]


def test_good_arch_lists_pass(folders: tuple[Path, Path]) -> None:
    from wheel_matrix.configuration.values import arch_list_problem

    for good in ("9.0", "8.0;9.0+PTX", "8.0 9.0", "9.0a;10.0a;12.0f", "7.5;12.0+PTX"):
        assert arch_list_problem(good) is None, good


def test_help_says_what_jobs_0_means(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "0: automatic" in " ".join(capsys.readouterr().out.split())
