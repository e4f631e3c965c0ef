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
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from wheel_matrix import proc
from wheel_matrix.errors import ToolError
from wheel_matrix.plan.label import Label, label_of_version
from wheel_matrix.wheel.make import make_wheel


@dataclass(frozen=True)
class Resolution:
    installer: str  # "pip" or "uv"
    project: str
    torch: str
    want: Label  # the build that must be picked for that torch in this channel
    got: str | None  # the causal-conv1d version chosen, None if resolution failed
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.got is not None and label_of_version(self.got) == self.want

    def describe(self) -> str:
        what = f"{self.installer} resolved {self.project}"
        if self.got is None:
            why = self.error.strip().splitlines()[-1] if self.error.strip() else "no output"
            lost = f"{self.installer} could not resolve {self.project}"
            return f"{lost} with torch {self.torch}: {why}"
        return f"{what} {self.got} with torch {self.torch} (label {self.want})"


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


def resolve_pip(
    channel_url: str, project: str, want: Label, links: Path, tmp: Path
) -> Resolution:
    torch = want.torch
    report = tmp / f"pip-{want}.json"
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
                project,
                f"torch=={torch}.*",
            ],
            capture=True,
            quiet=True,
            # Only what the index says counts: no config file of this machine's
            # (indexes, find-links, constraints) may take part.
            env={"PIP_CONFIG_FILE": os.devnull},
        )
    except ToolError as exc:
        return Resolution("pip", project, torch, want, None, str(exc))
    chosen = [
        i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
        if canonicalize_name(i["metadata"]["name"]) == canonicalize_name(project)
    ]
    return Resolution("pip", project, torch, want, chosen[0] if chosen else None)


def resolve_uv(channel_url: str, project: str, want: Label, links: Path, tmp: Path) -> Resolution:
    torch = want.torch
    requirements = tmp / f"uv-{want}.in"
    requirements.write_text(f"{project}\ntorch=={torch}.*\n")
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
        return Resolution("uv", project, torch, want, None, str(exc))
    prefix = f"{canonicalize_name(project)}=="
    chosen = [line[len(prefix) :].strip() for line in out.splitlines() if line.startswith(prefix)]
    return Resolution("uv", project, torch, want, chosen[0] if chosen else None)


def check_channel(
    channel_url: str, project: str, wants: Sequence[Label], requires_dist: list[str]
) -> list[Resolution]:
    """pip and uv, for each torch minor: do both pick the build labelled for it?"""
    out = []
    with tempfile.TemporaryDirectory(prefix="wheel-matrix-resolve-") as name:
        tmp = Path(name)
        for want in wants:
            links = tmp / f"links-{want.torch}"
            stand_ins(links, want.torch, requires_dist)
            out.append(resolve_pip(channel_url, project, want, links, tmp))
            out.append(resolve_uv(channel_url, project, want, links, tmp))
    return out
