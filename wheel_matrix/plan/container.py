"""Where things live in a build container, and what its image is called.

The rendered Dockerfiles create this layout, the rendered cibuildwheel
configurations use it, and the container backend mounts into it; all three
read it from here.
"""

from __future__ import annotations

import hashlib

from wheel_matrix.plan.caching import CompileCache

PROJECT = "/project"  # cibuildwheel copies the staged build inputs here
TOOLS = "/opt/wheel-matrix"  # venv with the repair tools and ccache
CCACHE_DIR = "/ccache"  # bind-mounted from the host's cache folder
CACHE = CompileCache(
    program=f"{TOOLS}/bin/ccache", directory=CCACHE_DIR, shims="/opt/ccache/bin", basedir=PROJECT
)
PLATFORMS = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}


def dockerfile_path(compute: str) -> str:
    """One build image per compute platform: ``docker/cu130.Dockerfile``."""
    return f"docker/{compute}.Dockerfile"


def config_path(cell_id: str) -> str:
    return f"cibuildwheel/{cell_id}.toml"


def image_tag(compute: str, dockerfile_text: str, arch: str) -> str:
    """A local tag that changes whenever the Dockerfile does, so a stale image is never reused."""
    digest = hashlib.sha256(dockerfile_text.encode()).hexdigest()[:12]
    return f"wheel-matrix/{compute}:{arch}-{digest}"
