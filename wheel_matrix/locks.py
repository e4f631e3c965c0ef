"""Locks between processes: an exclusive one for writers (the filelock package), and a
shared one for readers that never writes anything, so a reader works on a read-only mount."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from wheel_matrix.errors import UserError


@contextlib.contextmanager
def exclusive(path: Path, *, what: str, timeout: float = 60.0) -> Iterator[None]:
    """Hold the lock file ``path``; a UserError naming ``what`` if it stays taken past
    ``timeout`` seconds (0: fail at once)."""
    import filelock  # only writers need it: `--help` and readers run without it

    lock = filelock.FileLock(path, timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        waited = f" (waited {timeout:.0f}s)" if timeout else ""
        raise UserError(f"another {what} holds {path}{waited}") from None
    except OSError as exc:
        raise UserError(f"cannot take the lock {path}: {exc.strerror}") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def shared(path: Path, *, what: str, timeout: float = 60.0) -> Iterator[None]:
    """Wait out a writer holding ``path``, then keep it out while reading.

    Only an existing lock file is opened, read-only: a place no writer has
    ever locked (or cannot write to) has nothing to wait for.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        _flock(fd, fcntl.LOCK_SH, path, what, timeout)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _flock(fd: int, mode: int, path: Path, what: str, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UserError(f"another {what} holds {path} (waited {timeout:.0f}s)") from None
            time.sleep(0.05)
