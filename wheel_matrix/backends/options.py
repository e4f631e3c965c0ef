"""What a maintainer chooses about a build, whichever backend runs it; and the build inputs."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from wheel_matrix.backends import compile_cache
from wheel_matrix.backends.toolchain import ToolkitChoice
from wheel_matrix.plan.decisions import Purpose

REPO_ROOT = Path(__file__).resolve().parents[2]

# What a build needs from the repository; nothing else enters a build tree or container.
SOURCE_ITEMS = (
    "setup.py",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "csrc",
    "causal_conv1d",
    "causal_conv1d_cuda",
    "build_support",
)


def default_cache() -> Path:
    env = os.environ.get("WHEEL_MATRIX_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "wheel-matrix"


@dataclass(frozen=True)
class BuildOptions:
    dist: Path
    cache: Path = field(default_factory=default_cache)
    purpose: Purpose = "release"  # which of the plan's arch lists
    arch_list: str | None = None  # overrides the plan's
    toolkit: ToolkitChoice = "auto"
    jobs: int | None = None
    python: str = sys.executable
    source: Path = REPO_ROOT
    ccache: str | None = field(default_factory=compile_cache.find_program)  # None: no caching
    local_base: bool = False  # container backend: base images made here, compile offline
    ccache_store: Path | None = None  # container backend: CCACHE_DIR (default: under cache)


def sync_sources(source: Path, dest: Path) -> None:
    """Mirror the build inputs into ``dest`` (with their mtimes), deleting what they lost."""
    skip = shutil.ignore_patterns("__pycache__", "*.so")
    dest.mkdir(parents=True, exist_ok=True)
    for item in SOURCE_ITEMS:
        src, target = source / item, dest / item
        if src.is_file():
            shutil.copy2(src, target)
        elif src.is_dir():
            if target.exists():
                _prune(src, target)
            shutil.copytree(src, target, dirs_exist_ok=True, ignore=skip)


def _prune(src: Path, target: Path) -> None:
    """Delete what ``target`` holds that ``src`` no longer has (deleted sources)."""
    for path in sorted(target.rglob("*"), reverse=True):
        if "__pycache__" in path.parts or (src / path.relative_to(target)).exists():
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
