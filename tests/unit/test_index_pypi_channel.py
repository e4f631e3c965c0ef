"""The pypi channel: each torch minor's build for PyPI's torch, linked from its compute channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wheel_matrix.index import build_index
from wheel_matrix.index.landing import load_data
from wheel_matrix.index.store import PlanFacts, pages, set_yanked
from wheel_matrix.index.verify import verify_index
from wheel_matrix.wheel.make import make_wheel

# PyPI's torch 2.14 is a CUDA 13.0 build, its 2.15 a CUDA 13.2 one.
PYPI = {"2.14": "cu130", "2.15": "cu132"}
CC1D = "causal-conv1d"
TOLD = PlanFacts(CC1D, PYPI, "https://download.pytorch.org/whl/{compute}")


def wheel(folder: Path, label: str) -> Path:
    torch = label.rsplit("torch", 1)[1]
    return make_wheel(folder, CC1D, f"1.7.0+{label}", requires_dist=[f"torch=={torch}.*"])


@pytest.fixture
def index(tmp_path: Path) -> Path:
    labels = ("cu130torch2.14", "cu126torch2.14", "cputorch2.14", "cu132torch2.15")
    build_index([wheel(tmp_path / "w", label) for label in labels], tmp_path / "i", told=TOLD)
    return tmp_path / "i"


def test_lists_pypis_build_of_each_torch_without_a_copy(index: Path) -> None:
    page = json.loads((index / "pypi" / CC1D / pages.PAGE_JSON).read_bytes())
    urls = [f["url"] for f in page["files"]]
    assert urls == [
        "../../cu130/causal-conv1d/causal_conv1d-1.7.0%2Bcu130torch2.14-py3-none-any.whl",
        "../../cu132/causal-conv1d/causal_conv1d-1.7.0%2Bcu132torch2.15-py3-none-any.whl",
    ]
    assert not list((index / "pypi").rglob("*.whl"))  # links, not copies
    html = (index / "pypi" / CC1D / pages.PAGE_HTML).read_text()
    assert 'href="../../cu132/causal-conv1d/causal_conv1d-1.7.0%2Bcu132torch2.15' in html
    assert load_data(index).pypi == PYPI
    report = verify_index(str(index))
    assert report.ok, report.faults
    assert "pypi" in report.channels


def test_yank_reaches_the_pypi_listing(index: Path) -> None:
    set_yanked(index, "1.7.0+cu130torch2.14", reason="broken")
    for channel in ("cu130", "pypi"):
        page = json.loads((index / channel / CC1D / pages.PAGE_JSON).read_bytes())
        assert [f["yanked"] for f in page["files"] if "cu130" in f["filename"]] == ["broken"]
    assert verify_index(str(index)).ok


def test_verify_catches_a_pypi_listing_of_the_wrong_build(index: Path) -> None:
    data = json.loads((index / "channels.json").read_text())
    data["pypi"]["2.14"] = "cu126"  # now cu130's wheel is in pypi for the wrong reason
    (index / "channels.json").write_text(json.dumps(data))
    faults = [str(f) for f in verify_index(str(index)).faults]
    assert faults == [
        "cu130/causal-conv1d/causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl: listed in "
        "pypi for torch 2.14, whose PyPI build is cu126, but built for cu130"
    ]


def test_verify_catches_a_json_url_that_differs_from_the_html(index: Path) -> None:
    path = index / "pypi" / CC1D / pages.PAGE_JSON
    page = json.loads(path.read_bytes())
    page["files"][0]["url"] = page["files"][0]["url"].replace("cu130", "cu126").replace(
        "cu126torch", "cu130torch"
    )
    path.write_text(json.dumps(page))
    faults = [str(f) for f in verify_index(str(index)).faults]
    assert any("JSON and HTML pages disagree about this file" in f for f in faults), faults


def test_a_link_out_of_the_index_is_a_fault(index: Path) -> None:
    path = index / "pypi" / CC1D / pages.PAGE_HTML
    html = path.read_text().replace('href="../../cu130/', 'href="../../../cu130/')
    path.write_text(html)
    faults = [str(f) for f in verify_index(str(index)).faults]
    assert any("link leaves the index" in f for f in faults), faults
