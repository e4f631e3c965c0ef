"""which-index: the channel that fits a Python/torch/CUDA, or a clear reason why none does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wheel_matrix.cli import main
from wheel_matrix.errors import UserError
from wheel_matrix.index import build_index
from wheel_matrix.index.store import PlanFacts, set_yanked
from wheel_matrix.index.which import LocalEnv, choose, inspect, load_channels
from wheel_matrix.wheel.make import make_wheel

BASE = "https://wheels.example/"
TOLD = PlanFacts(
    "causal-conv1d", {"2.13": "cu130", "2.14": "cu130"}, "https://download.pytorch.org/whl/{compute}"
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("which")
    versions = [
        "1.7.0+cputorch2.13",
        "1.7.0+cu126torch2.13",
        "1.7.0+cu130torch2.14",
        "1.10.0+cu130torch2.14",
        "1.9.0+cu130torch2.14",
        "1.11.0+cu130torch2.14",
    ]
    wheels = [make_wheel(tmp / "w", "causal-conv1d", v) for v in versions]
    build_index(wheels, tmp / "index", told=TOLD)
    set_yanked(tmp / "index", "1.11.0")
    return tmp / "index"


def env(torch: str | None, cuda: str | None = None, dist: str | None = None) -> LocalEnv:
    # Without ``dist``, as from PyTorch's index: its wheels carry the label.
    return LocalEnv("3.12", torch, cuda, None, dist or torch)


def test_cuda_torch_gets_its_channel_and_newest_unyanked(index: Path) -> None:
    choice = choose(env("2.14.0+cu130", "13.0"), load_channels(str(index)), BASE)
    assert (choice.channel, choice.version) == ("cu130", "1.10.0+cu130torch2.14")
    assert choice.recipes.url == "https://wheels.example/cu130/"
    assert choice.recipes.version == "1.10.0+cu130torch2.14"
    assert choice.recipes["pip"].text == (
        "pip install --extra-index-url https://wheels.example/cu130/ --extra-index-url "
        "https://download.pytorch.org/whl/cu130 --only-binary=causal-conv1d causal-conv1d "
        '"torch==2.14.*"'
    )


def test_pypis_torch_gets_the_pypi_channel(index: Path) -> None:
    # No label on the distribution: this torch came from PyPI, whose 2.14 is CUDA 13.0.
    choice = choose(env("2.14.1+cu130", "13.0", "2.14.1"), load_channels(str(index)), BASE)
    assert (choice.channel, choice.version) == ("pypi", "1.10.0+cu130torch2.14")
    assert choice.why == "torch 2.14.1+cu130 was built with CUDA 13.0, from PyPI"
    assert choice.recipes.url == "https://wheels.example/pypi/"


def test_cpu_torch_gets_cpu(index: Path) -> None:
    choice = choose(env("2.13.1", None), load_channels(str(index)), BASE)
    assert (choice.channel, choice.version) == ("cpu", "1.7.0+cputorch2.13")


@pytest.mark.parametrize(
    ("local", "message"),
    [
        (
            env(None),
            r"torch is not installed for Python 3\.12: install torch first "
            r"\(this index has builds for torch 2\.13, 2\.14\)",
        ),
        (env("2.5.1+cu124", "12.4"), r"no causal-conv1d build for torch 2\.5 in this index"),
        (
            env("2.13.0+cu130", "13.0"),
            r"no causal-conv1d build for torch 2\.13 with CUDA 13\.0 "
            r"\(channel cu130\); this torch has builds in: cpu, cu126",
        ),
        (env("2.14.0", None), r"no CPU build of causal-conv1d for torch 2\.14; .* cu130"),
    ],
    ids=["no-torch", "old-torch", "wrong-cuda", "no-cpu"],
)
def test_nothing_fits_says_why(index: Path, local: LocalEnv, message: str) -> None:
    with pytest.raises(UserError, match=message):
        choose(local, load_channels(str(index)), BASE)


def test_inspects_the_real_interpreter() -> None:
    found = inspect(sys.executable)
    assert found.python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_cli_without_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["which-index", "--index", str(tmp_path)]) == 2
    assert "no index here" in capsys.readouterr().err
