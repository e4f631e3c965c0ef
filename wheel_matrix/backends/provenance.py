"""The build information of a wheel, as either backend knows it: source, cell and toolchain.

The compiler, nvcc and auditwheel are asked for their versions where the
build runs them (this machine, or the build image); torch and setuptools are
what the plan pins, which both backends install exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from wheel_matrix import log, proc
from wheel_matrix.backends.source import SourceState
from wheel_matrix.errors import ToolError
from wheel_matrix.plan.decisions import BuildSpec, build_tool_version
from wheel_matrix.wheel.build_info import BuildInfo, Toolchain

_NVCC = re.compile(r"\bV(\d+\.\d+\.\d+)\b")
_AUDITWHEEL = re.compile(r"auditwheel (\S+)")


def nvcc_version(banner: str) -> str:
    """``13.2.78`` from ``nvcc --version``'s output (its release line alone says 13.2)."""
    found = _NVCC.search(banner)
    if found is None:
        raise ToolError(f"nvcc --version says no version: {banner.strip()[-200:]}")
    return found.group(1)


def compiler_banner(text: str) -> str:
    """The first line of ``c++ --version``: the compiler and its build, e.g. a distribution's."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if not line:
        raise ToolError("c++ --version printed nothing")
    return line


def auditwheel_version(text: str) -> str:
    found = _AUDITWHEEL.search(text)
    if found is None:
        raise ToolError(f"auditwheel --version says no version: {text.strip()[-200:]}")
    return found.group(1)


def host_compiler(env: Mapping[str, str]) -> str:
    """The banner of the C++ compiler a host build with ``env`` (its PATH, CXX) uses."""
    compiler = env.get("CXX") or "c++"  # what torch's extension builder compiles with
    return compiler_banner(proc.run([compiler, "--version"], env=env, capture=True, quiet=True))


def host_toolchain(spec: BuildSpec, env: dict[str, str], nvcc: Path | None) -> Toolchain:
    """The toolchain of a build on this machine, with the build's ``env`` (its PATH)."""
    return Toolchain(
        compiler=host_compiler(env),
        nvcc=None if nvcc is None else nvcc_version(
            proc.run([nvcc, "--version"], capture=True, quiet=True)
        ),
        torch=spec.cell.torch.version,
        setuptools=build_tool_version(spec, "setuptools"),
        auditwheel=metadata.version("auditwheel"),  # repair runs in this environment
    )


def image_toolchain(spec: BuildSpec, banners: str) -> Toolchain:
    """The toolchain of a build in an image, from ``probe_script``'s output there."""
    sections = dict(
        part.split("\n", 1) for part in banners.split("--- ")[1:] if "\n" in part
    )
    nvcc = sections.get("nvcc", "").strip()
    return Toolchain(
        compiler=compiler_banner(sections.get("c++", "")),
        nvcc=nvcc_version(nvcc) if spec.cell.cuda is not None else None,
        torch=spec.cell.torch.version,
        setuptools=build_tool_version(spec, "setuptools"),
        auditwheel=auditwheel_version(sections.get("auditwheel", "")),
    )


def probe_script(tools_python: str) -> str:
    """A shell script that prints, in an image, the banners ``image_toolchain`` reads."""
    return (
        "echo '--- c++'; c++ --version; "
        "echo '--- nvcc'; if command -v nvcc >/dev/null; then nvcc --version; fi; "
        f"echo '--- auditwheel'; {tools_python} -m auditwheel --version"
    )


def build_info(spec: BuildSpec, arch_list: str, source: SourceState,
               toolchain: Toolchain) -> BuildInfo:
    return BuildInfo(
        cell=spec.cell.id,
        arch_list=arch_list,
        commit=source.commit,
        source_date_epoch=source.epoch,
        dirty=source.dirty,
        toolchain=toolchain,
    )


def report_source(source: SourceState) -> None:
    """One progress line saying what is built, and a warning if nobody can rebuild it."""
    if source.commit is None:
        log.warn("not a git checkout: the wheel records no commit, so it can't be rebuilt")
        return
    state = "with uncommitted changes" if source.dirty else "clean"
    log.info(f"    source: commit {source.commit[:12]} ({state}), "
             f"SOURCE_DATE_EPOCH={source.epoch}")
    if source.dirty:
        log.warn("the checkout has uncommitted changes: rebuild-check will refuse this wheel")
