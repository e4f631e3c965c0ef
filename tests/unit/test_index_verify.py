"""verify: each planted fault is found and named; a clean index passes, by folder or URL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from index_tampering import plant_file, two_channel_index

from wheel_matrix.cli import main
from wheel_matrix.index import build_index, pages
from wheel_matrix.index.serve import serving
from wheel_matrix.index.store import load_project
from wheel_matrix.index.verify import Expected, verify_index
from wheel_matrix.wheel.make import make_wheel

CU130 = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"
CPU = "causal_conv1d-1.7.0+cputorch2.13-py3-none-any.whl"


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return two_channel_index(tmp_path)


def faults(index: Path) -> list[str]:
    report = verify_index(str(index))
    return [str(f) for f in report.faults]


def test_clean_index_passes(index: Path) -> None:
    report = verify_index(str(index))
    assert report.ok and report.files == 2 and report.channels == ("cpu", "cu130")


def test_clean_index_passes_over_http(index: Path) -> None:
    with serving(index) as url:
        report = verify_index(url)
    assert report.ok and report.files == 2


def test_changed_wheel_bytes(index: Path) -> None:
    path = index / "cu130/causal-conv1d" / CU130
    path.write_bytes(path.read_bytes() + b"\0")
    (fault,) = [f for f in faults(index) if "sha256 is" in f]
    assert fault.startswith(f"cu130/causal-conv1d/{CU130}: sha256 is ")
    assert any("JSON size" in f for f in faults(index))


def test_changed_metadata_file(index: Path) -> None:
    path = index / "cpu/causal-conv1d" / (CPU + ".metadata")
    path.write_bytes(path.read_bytes().replace(b"Requires-Python", b"Requires-Pythom"))
    found = faults(index)
    assert f"cpu/causal-conv1d/{CPU}.metadata: differs from the wheel's METADATA" in found
    assert any(f.startswith(f"cpu/causal-conv1d/{CPU}.metadata: sha256 is") for f in found)


def test_missing_files(index: Path) -> None:
    (index / "cpu/causal-conv1d" / CPU).unlink()
    (index / "cu130/causal-conv1d" / (CU130 + ".metadata")).unlink()
    found = faults(index)
    assert f"cpu/causal-conv1d/{CPU}: linked but missing" in found
    assert (
        f"cu130/causal-conv1d/{CU130}.metadata: announced by data-core-metadata but missing"
        in found
    )


def test_filename_version_differs_from_metadata(tmp_path: Path, index: Path) -> None:
    liar = make_wheel(
        tmp_path / "x",
        "causal-conv1d",
        "1.7.0+cu130torch2.14",
        filename="causal_conv1d-1.7.9+cu130torch2.14-py3-none-any.whl",
    )
    plant_file(index, "cu130", liar)
    assert (
        f"cu130/causal-conv1d/{liar.name}: file name version 1.7.9+cu130torch2.14 != "
        "METADATA version 1.7.0+cu130torch2.14"
    ) in faults(index)


def test_wheel_in_the_wrong_channel(tmp_path: Path, index: Path) -> None:
    stray = make_wheel(tmp_path / "x", "causal-conv1d", "1.7.1+cu126torch2.13")
    plant_file(index, "cpu", stray)
    assert (
        f"cpu/causal-conv1d/{stray.name}: built for channel cu126 (label cu126torch2.13), "
        "published in cpu"
    ) in faults(index)


def test_html_and_json_disagree(index: Path) -> None:
    page = load_project(index, "cpu", "causal-conv1d")
    assert page is not None
    yanked = page.with_files([replace(page.files[0], yanked="")])
    (index / "cpu/causal-conv1d/index.html").write_bytes(pages.project_html(yanked))
    assert f"cpu/causal-conv1d/{CPU}: JSON and HTML pages disagree about this file" in faults(index)


def test_bare_plus_and_missing_hash(index: Path) -> None:
    path = index / "cpu/causal-conv1d/index.html"
    text = path.read_text()
    path.write_text(text.replace("%2B", "+", 1).replace("#sha256=", "#md5=", 1))
    found = faults(index)
    assert any("bare '+' in href" in f for f in found)
    assert any("link has no #sha256= fragment" in f for f in found)


def test_cli_exits_non_zero_naming_each_fault(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (index / "cpu/causal-conv1d" / CPU).unlink()
    (index / "cu130/causal-conv1d" / (CU130 + ".metadata")).write_bytes(b"x")
    assert main(["verify", str(index)]) == 1
    err = capsys.readouterr().err
    assert f"cpu/causal-conv1d/{CPU}: linked but missing" in err
    assert f"cu130/causal-conv1d/{CU130}.metadata: sha256 is" in err
    assert "fault(s)" in err


def test_cli_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "nope")]) == 2
    assert "no such index folder" in capsys.readouterr().err


# --- which torch minors `verify --resolve` resolves: matrix.yaml's cells per channel ---


SMALL = Expected({"cpu": ["2.13", "2.14"], "cu130": ["2.13", "2.14"]}, "matrix-small.yaml builds")


def test_plan_from_an_expectation_names_each_missing_torch() -> None:
    from wheel_matrix.index.expectations import plan_resolution

    plan = plan_resolution(
        ["cpu", "cu130", "cu118"],
        {"cpu": {"2.12", "2.14"}, "cu130": {"2.14"}, "cu118": {"2.6"}},
        {"cu130": {"2.13"}},
        expected=SMALL,
    )
    assert plan.torches == {"cpu": ["2.14"], "cu130": ["2.14"], "cu118": []}
    assert [str(f) for f in plan.faults] == [
        "cpu/: no causal-conv1d wheels for torch 2.13, which matrix-small.yaml builds for "
        "this channel",
        "cu130/: only yanked causal-conv1d wheels for torch 2.13, which matrix-small.yaml "
        "builds for this channel",
    ]
    assert plan.notes == [
        "cpu: torch 2.12 is not what matrix-small.yaml builds for this channel; not resolved",
        "cu118: nothing that matrix-small.yaml builds is for this channel; nothing resolved "
        "there",
    ]


def test_plan_named_torches_or_the_channels_own() -> None:
    from wheel_matrix.index.expectations import plan_resolution

    live = {"cpu": {"2.9", "2.12"}}
    named = plan_resolution(["cpu"], live, torches=["2.13", "2.10"], expected=SMALL)
    assert named.torches == {"cpu": ["2.10", "2.13"]} and not named.faults
    own = plan_resolution(["cpu"], live)
    assert own.torches == {"cpu": ["2.9", "2.12"]} and not own.faults and not own.notes


def test_resolve_reports_expected_torches_missing_from_the_index(tmp_path: Path) -> None:
    # Every torch the matrix wants in cpu is missing, so no installer needs to run;
    # cu130 is missing altogether.
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.12")], tmp_path / "i")
    report = verify_index(str(tmp_path / "i"), resolve=True, expected=SMALL)
    assert [str(f) for f in report.faults] == [
        *(
            f"cpu/: no causal-conv1d wheels for torch {t}, which matrix-small.yaml builds for "
            "this channel"
            for t in ("2.13", "2.14")
        ),
        "cu130/: no such channel, but matrix-small.yaml builds torch 2.13, 2.14 for it",
    ]
    only_cpu = verify_index(str(tmp_path / "i"), ["cpu"], resolve=True, expected=SMALL)
    assert len(only_cpu.faults) == 2
    assert report.resolved == ()


def test_cli_verify_resolve_wheels_expects_each_wheels_torch_in_its_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.12")], tmp_path / "i")
    released = tmp_path / "released"
    make_wheel(released, "causal-conv1d", "1.7.0+cu130torch2.14")
    assert main(["verify", str(tmp_path / "i"), "--resolve-wheels", str(released)]) == 1
    err = capsys.readouterr().err
    assert f"cu130/: no such channel, but {released} holds torch 2.14 for it" in err


def test_cli_verify_resolve_reads_the_matrix_option(
    tmp_path: Path, small_matrix_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_index([make_wheel(tmp_path / "w", "causal-conv1d", "1.7.0+cputorch2.12")], tmp_path / "i")
    index = str(tmp_path / "i")
    assert main(["verify", index, "--resolve", "--matrix", str(small_matrix_path)]) == 1
    err = capsys.readouterr().err
    assert "cpu/: no causal-conv1d wheels for torch 2.13, which matrix-small.yaml builds" in err
    assert "cpu/: no causal-conv1d wheels for torch 2.14, which matrix-small.yaml builds" in err
    assert main(["verify", index, "--resolve", "--matrix", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
