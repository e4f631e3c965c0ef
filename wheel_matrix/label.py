"""Local version labels: ``cu130torch2.14`` and ``cputorch2.13``.

The label is the only place a wheel records the cell it was built for, so the
index, the verifier and the planner all parse and format it here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from wheel_matrix.errors import UserError

DEFAULT_FORMAT = "{compute}torch{torch}"
_FIELDS = {"compute": r"(?P<compute>cpu|cu\d{3,4})", "torch": r"(?P<torch>\d+\.\d+)"}


def _pattern(fmt: str) -> re.Pattern[str]:
    parts = re.split(r"\{(compute|torch)\}", fmt)
    # re.split keeps the captured field names at odd positions.
    return re.compile(
        "^" + "".join(_FIELDS[p] if i % 2 else re.escape(p) for i, p in enumerate(parts)) + "$"
    )


@dataclass(frozen=True, order=True)
class Label:
    """The cell a wheel was built for: compute platform and torch minor."""

    compute: str  # "cpu" or "cu" + CUDA major/minor digits, e.g. "cu130"
    torch: str  # torch minor, e.g. "2.14"

    def __str__(self) -> str:
        return self.format(DEFAULT_FORMAT)

    def format(self, fmt: str) -> str:
        return fmt.format(compute=self.compute, torch=self.torch)

    @property
    def channel(self) -> str:
        """The index channel the wheel is published in (PyTorch's naming)."""
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


def parse_label(text: str, fmt: str = DEFAULT_FORMAT) -> Label:
    match = _pattern(fmt).match(text)
    if match is None:
        raise UserError(
            f"not a build label: {text!r} (expected e.g. 'cu130torch2.14' or 'cputorch2.13')"
        )
    return Label(compute=match["compute"], torch=match["torch"])


def label_of_version(version: str, fmt: str = DEFAULT_FORMAT) -> Label:
    """The label carried by a full version such as ``1.7.0+cu130torch2.14``."""
    try:
        local = Version(version).local
    except InvalidVersion as exc:
        raise UserError(f"not a PEP 440 version: {version!r}") from exc
    if local is None:
        raise UserError(f"version {version!r} has no local build label")
    return parse_label(local, fmt)
