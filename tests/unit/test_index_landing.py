"""The landing page and the install recipes (the picker itself runs in a browser, e2e)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tomllib

from wheel_matrix.index import build_index
from wheel_matrix.index.store import PlanFacts, set_yanked
from wheel_matrix.plan.recipes import KINDS, marker, recipes
from wheel_matrix.wheel.make import make_wheel

TORCH_INDEX = "https://download.pytorch.org/whl/{compute}"
CC1D = "causal-conv1d"


def embedded(html: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="index-data">(.*?)</script>', html)
    assert match is not None
    data: dict[str, object] = json.loads(match[1])
    return data


def test_landing_lists_channels_and_embeds_every_recipe(tmp_path: Path) -> None:
    versions = ["1.7.0+cputorch2.13", "1.7.0+cu130torch2.14", "1.6.0+cu130torch2.14"]
    build_index(
        [make_wheel(tmp_path / "w", "causal-conv1d", v) for v in versions],
        tmp_path / "index",
        base_url="https://w.example/",
        told=PlanFacts(CC1D, {"2.14": "cu130"}, TORCH_INDEX),
    )
    set_yanked(tmp_path / "index", "1.6.0", base_url="https://w.example/")
    html = (tmp_path / "index" / "index.html").read_text()
    assert '<a href="cu130/causal-conv1d/">causal-conv1d</a>' in html
    assert "1.7.0+cu130torch2.14, 1.6.0+cu130torch2.14 (yanked)" in html
    data = embedded(html)
    assert data["titles"] == {
        "cpu": "CPU only",
        "cu130": "CUDA 13.0",
        "pypi": "PyPI's torch (pip install torch)",
    }
    assert data["order"] == ["pypi", "cu130", "cpu"]  # PyPI's first, newest CUDA, CPU last
    built = data["recipes"]
    assert isinstance(built, dict)
    pypi = built["pypi"]["2.14"]
    assert pypi["version"] == "1.7.0+cu130torch2.14"  # the yanked 1.6.0 is never offered
    want = recipes(
        "https://w.example/", "pypi", "2.14", "1.7.0+cu130torch2.14", [], TORCH_INDEX, CC1D
    )
    assert pypi["recipes"] == {r.kind: r.text for r in want.items}
    assert sorted(built["cpu"]) == ["2.13"]
    # Self-contained: nothing fetched from elsewhere (the favicon is a data: URL).
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_pypi_recipes_guard_every_client() -> None:
    found = recipes(
        "https://w.example", "pypi", "2.15", "1.7.0+cu132torch2.15", ["x86_64", "aarch64"], "",
        CC1D,
    )
    assert found.url == "https://w.example/pypi/"
    assert [r.kind for r in found.items] == [kind for kind, _ in KINDS]
    assert found["pip"].text == (
        "pip install --extra-index-url https://w.example/pypi/ --only-binary=causal-conv1d "
        'causal-conv1d "torch==2.15.*"'
    )
    assert found["uv_pip"].text == (
        'uv pip install --extra-index-url https://w.example/pypi/ causal-conv1d "torch==2.15.*"'
    )
    (kind, path, toml), (_, _, add) = found["uv_project"].steps
    assert (kind, path) == ("append", "pyproject.toml")
    doc = tomllib.loads(toml)
    assert doc["tool"]["uv"]["index"] == [
        {"name": "causal-conv1d", "url": "https://w.example/pypi/", "explicit": True}
    ]
    assert doc["tool"]["uv"]["sources"] == {"causal-conv1d": {"index": "causal-conv1d"}}
    assert add == 'uv add "torch==2.15.*" "causal-conv1d; sys_platform == \'linux\'"'
    assert "--markers \"sys_platform == 'linux'\"" in found["poetry"].text
    pdm = tomllib.loads(found["pdm"].steps[0][2])["tool"]["pdm"]["source"][0]
    assert (pdm["include_packages"], pdm["exclude_packages"]) == (["causal-conv1d"], ["*"])
    assert '"causal-conv1d==1.7.0+cu132torch2.15; sys_platform' in found["pdm"].text
    assert "--only-binary causal-conv1d\n" in found["pip_tools"].steps[0][2]


def test_compute_channel_recipes_take_torch_from_pytorchs_index() -> None:
    found = recipes("https://w.example/", "cu126", "2.14", "1.7.0+cu126torch2.14", ["x86_64"],
                    TORCH_INDEX, CC1D)
    torch_url = "https://download.pytorch.org/whl/cu126"
    assert f"--extra-index-url {torch_url} " in found["pip"].text
    assert f"--extra-index-url {torch_url} " in found["uv_pip"].text
    doc = tomllib.loads(found["uv_project"].steps[0][2])
    assert doc["tool"]["uv"]["index"][1] == {
        "name": "pytorch-cu126", "url": torch_url, "explicit": True
    }
    assert doc["tool"]["uv"]["sources"]["torch"][0]["index"] == "pytorch-cu126"
    # cu126 builds are x86_64 only: the marker keeps aarch64 from looking for them.
    assert "platform_machine == 'x86_64'" in found["uv_project"].text
    assert f"poetry source add --priority=explicit pytorch-cu126 {torch_url}" in (
        found["poetry"].text
    )
    assert f"--extra-index-url {torch_url}\n" in found["pip_tools"].steps[0][2]


@pytest.mark.parametrize(
    ("arches", "expected"),
    [
        (["x86_64", "aarch64"], "sys_platform == 'linux'"),
        (["x86_64"], "sys_platform == 'linux' and platform_machine == 'x86_64'"),
        ([], "sys_platform == 'linux'"),
    ],
)
def test_marker(arches: list[str], expected: str) -> None:
    assert marker(arches) == expected


def test_picker_offers_pypi_then_the_newest_cuda_first_and_cpu_last() -> None:
    from wheel_matrix.index.landing import _channel_order

    assert _channel_order(["cpu", "cu126", "pypi", "cu132", "cu118", "cu130"]) == [
        "pypi",
        "cu132",
        "cu130",
        "cu126",
        "cu118",
        "cpu",
    ]
