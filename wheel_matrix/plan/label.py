"""The build label, one contract: ``cu130torch2.14`` and ``cputorch2.13``.

A wheel records the cell it was built for only in this PEP 440 local label,
identical in its file name and its METADATA ``Version``; the planner writes
it, and the index, the verifier and ``which-index`` read it back, all here.
The format is not configurable: installers, users' lock files and the
channels depend on it. Labels sort by accident, not by compatibility
(``cu126torch2.10`` < ``cu126torch2.8``): the ``torch==X.Y.*`` pin and the
channels steer resolution, never the label's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import Version

from wheel_matrix.errors import UserError, shorten

PATTERN = re.compile(r"^(?P<compute>cpu|cu\d{3,4})torch(?P<torch>\d+\.\d+)$")


@dataclass(frozen=True, order=True)
class Label:
    """The cell a wheel was built for: compute platform and torch minor."""

    compute: str  # "cpu" or "cu" + CUDA major/minor digits, e.g. "cu130"
    torch: str  # torch minor, e.g. "2.14"

    def __str__(self) -> str:
        return f"{self.compute}torch{self.torch}"

    @property
    def channel(self) -> str:
        """The index channel the wheel is stored in (PyTorch's naming)."""
        return self.compute

    @property
    def torch_requirement(self) -> str:
        """The Requires-Dist pin that makes resolvers choose by the user's torch."""
        return f"torch=={self.torch}.*"


def compute_tag(cuda: str | None) -> str:
    """``"13.0"`` -> ``"cu130"``, ``None`` -> ``"cpu"``."""
    if cuda is None:
        return "cpu"
    major, _, minor = cuda.partition(".")
    return f"cu{major}{minor or '0'}"


def parse_label(text: str) -> Label:
    match = PATTERN.match(text)
    if match is None:
        raise UserError(
            f"not a build label: {shorten(text)} (expected e.g. 'cu130torch2.14' or 'cputorch2.13')"
        )
    return Label(compute=match["compute"], torch=match["torch"])


def label_of_version(version: str) -> Label:
    """The label carried by a full version such as ``1.7.0+cu130torch2.14``."""
    try:
        local = Version(version).local
    except ValueError:  # InvalidVersion, or a number too long to read
        raise UserError(f"not a PEP 440 version: {shorten(version)}") from None
    if local is None:
        raise UserError(f"version {shorten(version)} has no local build label")
    return parse_label(local)
