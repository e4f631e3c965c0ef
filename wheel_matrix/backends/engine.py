"""The Docker engine, as the container backend talks to it.

``$DOCKER`` names the client when the first ``docker`` on PATH can't build
with BuildKit (scripts/docker-engine.sh exports Debian's own); ``DOCKER_HOST``
names the engine, as for any docker command. Failures an engine reports that
a user can act on (none answering, a full disk) become one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wheel_matrix import proc
from wheel_matrix.errors import ToolError, UserError

NO_SPACE = "no space left on device"


def client() -> str:
    return os.environ.get("DOCKER") or "docker"


def answers() -> bool:
    """Whether a Docker engine answers here (a client alone is not enough)."""
    try:
        proc.run([client(), "info", "--format", "{{.ServerVersion}}"], capture=True, quiet=True)
    except ToolError:
        return False
    return True


def require() -> None:
    if not answers():
        where = os.environ.get("DOCKER_HOST") or "the default socket"
        raise UserError(
            f"no Docker engine answers at {where}: start one (scripts/docker-engine.sh start "
            "on a machine without a service manager) or use --backend host"
        )


def image_id(tag: str) -> str | None:
    """The image's id, or None when no image has that tag."""
    try:
        out = proc.run(
            [client(), "image", "inspect", "--format", "{{.Id}}", tag], capture=True, quiet=True
        )
    except ToolError:
        return None
    return out.strip()


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """proc.run for a command that drives the engine: a full disk reads as one line."""
    try:
        proc.run(argv, cwd=cwd, env=env, on_line=on_line)
    except ToolError as err:
        if NO_SPACE in str(err).lower():
            raise UserError(
                "the Docker engine ran out of disk space: free some (docker system prune; "
                "docker builder prune) and build again"
            ) from err
        raise


def remove_superseded(tag: str) -> None:
    """Untag this image's older builds (same name and family, another digest).

    Tags carry a digest of their inputs, so every change of a Dockerfile or a
    base leaves an image behind; keeping one per family bounds the disk used.
    Best effort: an image a container still uses stays.
    """
    name, _, version = tag.rpartition(":")
    family = version.rpartition("-")[0]
    try:
        out = proc.run(
            [client(), "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", name],
            capture=True,
            quiet=True,
        )
        old = [
            t for t in out.split()
            if t != tag and t.rpartition(":")[2].rpartition("-")[0] == family
        ]
        if old:
            proc.run([client(), "image", "rm", *old], capture=True, quiet=True)
    except ToolError:
        pass
