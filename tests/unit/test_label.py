"""Version labels: formatting, parsing and the torch pin."""

from __future__ import annotations

import pytest
from packaging.version import Version

from wheel_matrix.errors import UserError
from wheel_matrix.plan.label import Label, compute_tag, label_of_version, parse_label


@pytest.mark.parametrize(
    ("cuda", "tag"), [(None, "cpu"), ("13.0", "cu130"), ("12.6", "cu126"), ("11.8", "cu118")]
)
def test_compute_tag(cuda: str | None, tag: str) -> None:
    assert compute_tag(cuda) == tag


def test_round_trip() -> None:
    label = Label(compute="cu124", torch="2.7")
    assert str(label) == "cu124torch2.7"
    assert parse_label("cu124torch2.7") == label
    assert label.torch_requirement == "torch==2.7.*"
    assert label.channel == "cu124"


def test_label_is_a_valid_pep440_local_version() -> None:
    version = Version("1.7.0+cu130torch2.14")
    assert version.local == "cu130torch2.14"
    assert label_of_version(str(version)) == Label("cu130", "2.14")


@pytest.mark.parametrize("text", ["cu13torch", "rocm6torch2.7", "cu130torch2", "torch2.7cu130"])
def test_bad_labels(text: str) -> None:
    with pytest.raises(UserError, match="not a build label"):
        parse_label(text)


def test_version_without_label() -> None:
    with pytest.raises(UserError, match="has no local build label"):
        label_of_version("1.7.0")
