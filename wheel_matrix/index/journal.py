"""Staged, journalled, ordered commits into a published folder, under a lock.

A publish writes every new file into a staging folder beside the index, then
records the list of moves in a journal, then moves each file into place with
``os.replace`` (atomic per file) in an order that keeps every page valid at
every instant: wheels and ``.metadata`` first, then the project pages that
link to them, then the channel roots, then the landing page. A kill before
the journal exists leaves the index untouched; a kill after it leaves pages
that are each complete, and the next run (or ``recover``) rolls the journal
forward. An exclusive ``flock`` on a file beside the index keeps two
publishes from interleaving; readers that care (``verify``) take it shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix import locks
from wheel_matrix.errors import UserError

JOURNAL = ".journal"
# Inside the index, so that no command makes a file outside one; never published.
LOCK = ".wheel-matrix.lock"


def lock_path(root: Path) -> Path:
    return root / LOCK


def staging_path(root: Path) -> Path:
    return root.parent / f".{root.name}.staging"


# What marks a folder as an index (its landing page and channel list), and what a
# folder about to become one may already hold (a GitHub Pages checkout's).
INDEX_MARKS = ("channels.json", "index.html")
NEW_INDEX_MAY_HOLD = ("CNAME",)


def check_root(root: Path, *, create: bool = False) -> None:
    """A UserError unless ``root`` is an index folder; with ``create``, a missing or empty
    folder (hidden files aside) may become one. No command locks, or writes into, a folder
    that fails this: ``yank --root /etc/passwd`` must not make ``/etc/.passwd.lock``."""
    if root.is_dir() and not root.is_symlink():
        if any((root / mark).is_file() for mark in INDEX_MARKS):
            return
        if create:
            others = sorted(
                p.name
                for p in root.iterdir()
                if not p.name.startswith(".") and p.name not in NEW_INDEX_MAY_HOLD
            )
            if not others:
                return
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise UserError(
                f"{root}: not an index folder (it holds {shown}): name an index, or a new or "
                "empty folder"
            )
        raise UserError(f"{root}: not an index folder (no {' or '.join(INDEX_MARKS)})")
    if root.exists() or root.is_symlink():
        raise UserError(f"{root}: not an index folder")
    if not create:
        raise UserError(f"{root}: no index here (run `wheel-matrix index` first)")


@contextlib.contextmanager
def locked(
    root: Path, *, shared: bool = False, timeout: float = 60.0, create: bool = False
) -> Iterator[None]:
    """Hold the index lock; a UserError if another holder keeps it past ``timeout``.

    Readers (``shared``) write nothing; a writer checks that ``root`` is an index
    folder (or, with ``create``, may become one) and makes it first.
    """
    if shared:
        with locks.shared(lock_path(root), what="publish", timeout=timeout):
            yield
        return
    check_root(root, create=create)
    root.mkdir(parents=True, exist_ok=True)
    with locks.exclusive(lock_path(root), what="publish", timeout=timeout):
        yield


@dataclass(frozen=True)
class Write:
    """One file to put at ``relpath`` (posix, relative to the index root)."""

    relpath: str
    data: bytes | None = None  # page content, or
    source: Path | None = None  # a file to copy (a wheel)
    sha256: str | None = None  # the copy must hash to this


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_checked(source: Path, target: Path, sha256: str | None) -> None:
    import hashlib

    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if sha256 is not None and digest.hexdigest() != sha256:
        raise UserError(f"{source}: the file changed while it was being published")


def pending(root: Path) -> bool:
    """Whether an interrupted commit is waiting to be rolled forward."""
    return (staging_path(root) / JOURNAL).is_file()


def recover(root: Path) -> bool:
    """Finish a commit that a kill interrupted, or discard unfinished staging.

    Call with the lock held. Returns True if a journal was rolled forward.
    """
    staging = staging_path(root)
    if not staging.exists():
        return False
    journal = staging / JOURNAL
    if not journal.is_file():
        shutil.rmtree(staging)
        return False
    _replay(root, staging, json.loads(journal.read_text()))
    return True


def _replay(root: Path, staging: Path, relpaths: Sequence[str]) -> None:
    for relpath in relpaths:
        staged = staging / relpath
        if not staged.exists():
            continue  # moved before the interruption
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    (staging / JOURNAL).unlink()
    shutil.rmtree(staging)


def commit(root: Path, writes: Sequence[Write]) -> None:
    """Stage ``writes``, journal them, and move them into ``root`` in order.

    Call with the lock held, after ``recover``.
    """
    if not writes:
        return
    seen: set[str] = set()
    for write in writes:
        bad = write.relpath.startswith(("/", "..")) or write.relpath == JOURNAL
        if bad or write.relpath in seen:
            raise AssertionError(f"bad or repeated write {write.relpath!r}")
        seen.add(write.relpath)
    staging = staging_path(root)
    try:
        _stage(staging, writes)
    except BaseException as exc:
        # Before the commit point the index is untouched: drop the staging, so that a full
        # disk is not left full until the next run.
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            where = exc.filename or staging
            raise UserError(
                f"cannot stage the publish ({where}: {exc.strerror}); the index is unchanged"
            ) from None
        raise
    try:
        _replay(root, staging, [w.relpath for w in writes])
    except OSError as exc:
        raise UserError(
            f"the publish stopped half-way ({exc.filename}: {exc.strerror}); every page is "
            "still whole: run the command again to finish it"
        ) from None


def _stage(staging: Path, writes: Sequence[Write]) -> None:
    """Write every file and then the journal (the commit point) into ``staging``."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for write in writes:
        target = staging / write.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if write.source is not None:
            _copy_checked(write.source, target, write.sha256)
        else:
            with target.open("wb") as out:
                out.write(write.data or b"")
                out.flush()
                os.fsync(out.fileno())
    tmp = staging / (JOURNAL + ".tmp")
    tmp.write_text(json.dumps([w.relpath for w in writes]))
    _fsync_dir(staging)
    os.replace(tmp, staging / JOURNAL)  # the commit point
    _fsync_dir(staging)
