"""The one exception type for user-facing failures.

Anything a user can fix (a bad matrix.yaml, an unknown cell, a missing tool)
raises UserError; the CLI prints its one-line message and exits with code 2.
Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """An error the user can fix; ``str(err)`` is the whole message, one line.

    A hostile value shown in it (a file name or a key holding a newline) is shown with
    its control characters escaped, so the message stays one line.
    """

    exit_code = 2
    one_line = True

    def __init__(self, message: str = "") -> None:
        if self.one_line and not message.isprintable():
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        super().__init__(message)


class ConfigError(UserError):
    """A bad value in a configuration file, located by file and key path."""

    def __init__(self, source: Path | str, key_path: str, message: str) -> None:
        if not key_path.isprintable() or len(key_path) > 120:
            # A hostile key (a newline, a megabyte) must not break the one line.
            key_path = shorten(key_path, 120)
        where = f"{source}: {key_path}" if key_path else str(source)
        super().__init__(f"{where}: {message}")
        self.source = str(source)
        self.key_path = key_path


class ToolError(UserError):
    """An external program that is missing or failed; the message may end with the tail of
    its output, several lines."""

    one_line = False


def shorten(value: object, limit: int = 60, quote: bool = True) -> str:
    """``repr(value)`` (or ``str`` when not ``quote``), cut to about ``limit`` characters.

    Error messages show the bad value; a hostile one (a megabyte string, an
    expanded YAML alias bomb) must not turn one line into megabytes.
    """
    text = repr(value) if quote else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix for near misses, or ''."""
    if len(word) > 100:  # nothing worth suggesting, and difflib is quadratic
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
