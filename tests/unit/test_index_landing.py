"""The landing page: channels, versions and the picker's data (the picker runs in a browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wheel_matrix.index import build_index
from wheel_matrix.index.instructions import TEMPLATES, instructions
from wheel_matrix.index.makewheel import make_wheel
from wheel_matrix.index.publish import set_yanked


def test_landing_lists_channels_and_embeds_picker_data(tmp_path: Path) -> None:
    versions = ["1.7.0+cputorch2.13", "1.7.0+cu130torch2.14", "1.6.0+cu130torch2.14"]
    build_index(
        [make_wheel(tmp_path / "w", "causal-conv1d", v) for v in versions],
        tmp_path / "index",
        base_url="https://w.example/",
    )
    set_yanked(tmp_path / "index", "1.6.0", base_url="https://w.example/")
    html = (tmp_path / "index" / "index.html").read_text()
    assert '<a href="cu130/causal-conv1d/">causal-conv1d</a>' in html
    assert "1.7.0+cu130torch2.14, 1.6.0+cu130torch2.14 (yanked)" in html
    match = re.search(r'<script type="application/json" id="index-data">(.*?)</script>', html)
    assert match is not None
    data = json.loads(match[1])
    assert data["templates"] == TEMPLATES and data["base_url"] == "https://w.example/"
    assert data["titles"] == {"cpu": "CPU only", "cu130": "CUDA 13.0"}
    assert data["order"] == ["cu130", "cpu"]  # newest CUDA first, CPU last
    # Self-contained: nothing fetched from elsewhere (the favicon is a data: URL).
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert (
        data["channels"] == json.loads((tmp_path / "index/channels.json").read_text())["channels"]
    )


def test_instructions_with_a_torch_pin() -> None:
    lines = instructions("https://w.example", "cu130", "2.14")
    assert lines.uv == (
        'uv pip install --extra-index-url https://w.example/cu130/ causal-conv1d "torch==2.14.*"'
    )
    assert 'causal-conv1d = { index = "causal-conv1d-cu130" }' in lines.pyproject
    assert "explicit = true" in lines.pyproject
    assert lines.poetry.startswith("poetry source add --priority=explicit causal-conv1d-cu130 ")


def test_picker_offers_the_newest_cuda_first_and_cpu_last() -> None:
    from wheel_matrix.index.landing import _channel_order

    assert _channel_order(["cpu", "cu126", "cu132", "cu118", "cu130"]) == [
        "cu132",
        "cu130",
        "cu126",
        "cu118",
        "cpu",
    ]
