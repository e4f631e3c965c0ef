"""Advisory file locks, so two processes never work in the same folder at once."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from wheel_matrix.errors import UserError


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: a hidden sibling, so it outlives the folder itself."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def locked(
    target: Path, *, what: str, shared: bool = False, timeout: float = 60.0
) -> Iterator[None]:
    """Hold ``target``'s lock; a UserError naming ``what`` if it stays taken past ``timeout``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(target)
    with path.open("a+") as handle:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"{target}: another {what} holds {path} (waited {timeout:.0f}s)"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
