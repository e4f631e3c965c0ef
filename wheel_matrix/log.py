"""Progress output people can read, locally and on GitHub Actions.

One line per step with its duration, ``::group::`` folding and ``::error::``
annotations when running under Actions, a final table mirrored into
``$GITHUB_STEP_SUMMARY``, and colour only on a terminal without ``NO_COLOR``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

VERBOSE = False


def on_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _colour(code: str, text: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return f"\033[{code}m{text}\033[0m"


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    if on_github_actions():
        print(f"::warning::{message}", file=sys.stderr, flush=True)
    else:
        info(_colour("33", f"warning: {message}"))


def error(message: str) -> None:
    if on_github_actions():
        # Annotations are one line; %0A is how Actions encodes a newline in them.
        encoded = message.replace("%", "%25").replace("\r", "").replace("\n", "%0A")
        print(f"::error::{encoded}", file=sys.stderr, flush=True)
    info(_colour("31", f"error: {message}"))


def command(argv: Sequence[str]) -> None:
    info(_colour("2", "+ " + " ".join(argv)))


@contextmanager
def step(title: str) -> Iterator[None]:
    """Announce a step, fold its output on Actions, and report its duration."""
    if on_github_actions():
        print(f"::group::{title}", file=sys.stderr, flush=True)
    info(_colour("1", f"==> {title}"))
    start = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        elapsed = time.monotonic() - start
        if on_github_actions():
            print("::endgroup::", file=sys.stderr, flush=True)
        mark = _colour("32", "ok") if ok else _colour("31", "failed")
        info(f"    {mark} {title} ({format_duration(elapsed)})")


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    """A plain-text table; also appended as Markdown to $GITHUB_STEP_SUMMARY."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            if title:
                out.write(f"### {title}\n\n")
            out.write("| " + " | ".join(headers) + " |\n")
            out.write("|" + "---|" * len(headers) + "\n")
            for r in rows:
                out.write("| " + " | ".join(r) + " |\n")
            out.write("\n")
    return "\n".join(lines)
