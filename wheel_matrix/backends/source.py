"""Which source a build compiles: the checkout's commit, its date, and whether it is clean.

The commit's date is the build's SOURCE_DATE_EPOCH (every timestamp in the
wheel, and what compilers put in ``__DATE__``), so two builds of one commit
agree whenever and wherever they run. A tree that is not a git checkout
takes ``$SOURCE_DATE_EPOCH`` if set, else 1980-01-01, and records no
commit; a checkout with changes the commit lacks is recorded as dirty, and
nobody can rebuild it.

``checkout`` is the other direction: a commit's tree in a fresh folder, for a
rebuild.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import proc
from wheel_matrix.errors import ToolError, UserError, shorten
from wheel_matrix.wheel.reproducible import ZIP_EPOCH

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class SourceState:
    commit: str | None  # None: not a git checkout
    epoch: int  # SOURCE_DATE_EPOCH
    dirty: bool


def _git(root: Path, *args: str) -> str:
    return proc.run(["git", "-C", root, *args], capture=True, quiet=True)


def state(root: Path) -> SourceState:
    """The commit ``root`` is checked out at, its date, and whether anything differs from it.

    Untracked files count as changes (they may enter a build); ignored ones don't.
    A tree inside some other checkout (an unpacked sdist in a project folder, a
    temporary folder in a clone) is not one: that commit doesn't hold it at its root.
    """
    try:
        if not is_checkout(root):
            raise ValueError(root)
        commit, date = _git(root, "log", "-1", "--format=%H %ct", "HEAD").split()
        changes = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    except (ToolError, ValueError):  # no git, not a checkout's root, no commit yet
        return SourceState(commit=None, epoch=_epoch_from_environment(), dirty=False)
    return SourceState(commit=commit, epoch=int(date), dirty=bool(changes.strip()))


def _epoch_from_environment() -> int:
    given = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if given.isdigit() and len(given) < 12:
        return int(given)
    if given:
        raise UserError(f"$SOURCE_DATE_EPOCH {shorten(given)}: expected seconds since 1970")
    return ZIP_EPOCH


def has_commit(repository: Path, commit: str) -> bool:
    """Whether ``repository`` (a git checkout) holds ``commit``."""
    if not _COMMIT.fullmatch(commit):
        return False
    try:
        _git(repository, "cat-file", "-e", f"{commit}^{{commit}}")
    except ToolError:
        return False
    return True


def is_checkout(repository: Path) -> bool:
    """Whether ``repository`` is the root of a git checkout (not a folder inside one)."""
    try:
        top = _git(repository, "rev-parse", "--show-toplevel").strip()
    except ToolError:
        return False
    return Path(top).resolve() == repository.resolve()


def checkout(repository: Path, commit: str, dest: Path) -> None:
    """``commit``'s tree in ``dest`` (a new folder), as a git checkout of its own.

    A clone sharing ``repository``'s objects: cheap, and nothing in
    ``repository`` changes (no worktree, branch or ref is added there).
    """
    proc.run(["git", "clone", "--quiet", "--shared", "--no-checkout", repository, dest],
             capture=True, quiet=True)
    _git(dest, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit)
