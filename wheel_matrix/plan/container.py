"""Where things live in a build container, and what its image is called.

The rendered Dockerfiles create this layout, the rendered cibuildwheel
configurations use it, and the container backend mounts into it; all three
read it from here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from wheel_matrix.plan.caching import CompileCache

PROJECT = "/project"  # cibuildwheel copies the staged build inputs here
TOOLS = "/opt/wheel-matrix"  # venv with the repair tools and ccache
TOOLS_PYTHON = "/opt/python/cp312-cp312/bin/python"  # makes it; every base image has it
CCACHE_DIR = "/ccache"  # bind-mounted from the host's cache folder
WHEELHOUSE = "/wheelhouse"  # bind-mounted, read-only, for builds without a network
OFFLINE_PIP = ("PIP_NO_INDEX", "PIP_FIND_LINKS")  # passed in when set: pip uses WHEELHOUSE only
CACHE = CompileCache(
    program=f"{TOOLS}/bin/ccache", directory=CCACHE_DIR, shims="/opt/ccache/bin"
)
PLATFORMS = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}


def dockerfile_path(compute: str) -> str:
    """One build image per compute platform: ``docker/cu130.Dockerfile``."""
    return f"docker/{compute}.Dockerfile"


def config_path(cell_id: str) -> str:
    return f"cibuildwheel/{cell_id}.toml"


def image_tag(
    compute: str, dockerfile_text: str, arch: str, local_bases: Sequence[str] = ()
) -> str:
    """A local tag that changes whenever the Dockerfile (or a local base) does.

    So a stale image is never reused. Images built on locally made bases
    (``--local-base``) have their own name: they never pass for release images.
    """
    digest = hashlib.sha256("\0".join([dockerfile_text, *local_bases]).encode()).hexdigest()[:12]
    return f"wheel-matrix/{compute}{'-local' if local_bases else ''}:{arch}-{digest}"


def build_selector(python: str, arch: str) -> str:
    """cibuildwheel's identifier of a CPython build: ``cp311-manylinux_x86_64``.

    manylinux only: a bare ``cp311-*`` would also select musllinux images.
    """
    return f"cp{python.replace('.', '')}-manylinux_{arch}"
