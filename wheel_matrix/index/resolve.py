"""Resolution checks: real pip and real uv resolve causal-conv1d against each torch.

A stand-in ``torch`` wheel (valid, empty) at the torch minor under test is
offered through ``--find-links``, so the check needs no multi-gigabyte torch
download: what is checked is that the channel's metadata (the
``torch==X.Y.*`` pin) steers each installer to the wheel labelled for X.Y.
Other requirements of the wheels get stand-ins too, at a version their
specifiers accept. Resolution runs for this interpreter and platform.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from wheel_matrix import proc
from wheel_matrix.errors import ToolError
from wheel_matrix.index.makewheel import make_wheel
from wheel_matrix.index.recipes import PROJECT
from wheel_matrix.label import label_of_version


@dataclass(frozen=True)
class Resolution:
    installer: str  # "pip" or "uv"
    channel: str
    torch: str
    got: str | None  # the causal-conv1d version chosen, None if resolution failed
    error: str = ""

    @property
    def ok(self) -> bool:
        if self.got is None:
            return False
        label = label_of_version(self.got)
        return (label.channel, label.torch) == (self.channel, self.torch)

    def describe(self) -> str:
        want = f"label {self.channel}torch{self.torch}"
        if self.got is None:
            return f"{self.installer} could not resolve {PROJECT} with torch {self.torch}: " + (
                self.error.strip().splitlines()[-1] if self.error.strip() else "no output"
            )
        return f"{self.installer} resolved {PROJECT} {self.got} with torch {self.torch} ({want})"


def _stand_in_version(specifiers: list[str]) -> str | None:
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(",".join(s for s in specifiers if s))
    candidates = ["0", "1", "1.0", "99"]
    for s in spec:
        try:
            base = Version(s.version.rstrip(".*"))
        except InvalidVersion:
            continue
        candidates += [str(base), f"{base.major}.{base.minor}.{base.micro + 1}", f"{base}.0"]
    return next((c for c in candidates if spec.contains(c, prereleases=True)), None)


def stand_ins(folder: Path, torch: str, requires_dist: list[str]) -> None:
    """Valid empty wheels for torch ``torch``.0 and for every other requirement."""
    make_wheel(folder, "torch", f"{torch}.0", files={})
    others: dict[str, list[str]] = {}
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name: str = canonicalize_name(req.name)
        if name == "torch" or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        others.setdefault(name, []).append(str(req.specifier))
    for name, specs in others.items():
        version = _stand_in_version(specs)
        if version is not None:
            make_wheel(folder, name, version, files={})


def resolve_pip(channel_url: str, channel: str, torch: str, links: Path, tmp: Path) -> Resolution:
    report = tmp / f"pip-{channel}-{torch}.json"
    try:
        proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--isolated",
                "--dry-run",
                "--quiet",
                "--ignore-installed",
                "--no-cache-dir",
                "--report",
                report,
                "--index-url",
                channel_url,
                "--find-links",
                links,
                "--only-binary",
                ":all:",
                PROJECT,
                f"torch=={torch}.*",
            ],
            capture=True,
            quiet=True,
        )
    except ToolError as exc:
        return Resolution("pip", channel, torch, None, str(exc))
    chosen = [
        i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
        if canonicalize_name(i["metadata"]["name"]) == PROJECT
    ]
    return Resolution("pip", channel, torch, chosen[0] if chosen else None)


def resolve_uv(channel_url: str, channel: str, torch: str, links: Path, tmp: Path) -> Resolution:
    requirements = tmp / f"uv-{channel}-{torch}.in"
    requirements.write_text(f"{PROJECT}\ntorch=={torch}.*\n")
    try:
        out = proc.run(
            [
                proc.which("uv", "pip install uv"),
                "pip",
                "compile",
                "--no-config",
                "--quiet",
                "--no-header",
                "--no-annotate",
                "--no-cache",
                "--python-version",
                f"{sys.version_info.major}.{sys.version_info.minor}",
                "--index-url",
                channel_url,
                "--find-links",
                links,
                requirements,
            ],
            capture=True,
            quiet=True,
        )
    except ToolError as exc:
        return Resolution("uv", channel, torch, None, str(exc))
    prefix = f"{PROJECT}=="
    chosen = [line[len(prefix) :].strip() for line in out.splitlines() if line.startswith(prefix)]
    return Resolution("uv", channel, torch, chosen[0] if chosen else None)


def check_channel(
    channel_url: str, channel: str, torches: list[str], requires_dist: list[str]
) -> list[Resolution]:
    """pip and uv, for each torch minor: which causal-conv1d does each pick?"""
    out = []
    with tempfile.TemporaryDirectory(prefix="wheel-matrix-resolve-") as name:
        tmp = Path(name)
        for torch in torches:
            links = tmp / f"links-{torch}"
            stand_ins(links, torch, requires_dist)
            out.append(resolve_pip(channel_url, channel, torch, links, tmp))
            out.append(resolve_uv(channel_url, channel, torch, links, tmp))
    return out
