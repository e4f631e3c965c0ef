"""``verify``: check a published index, in a folder or at a URL, as installers see it.

The pages and files are checked by ``page_check``; with ``resolve``, real pip
and uv then resolve causal-conv1d in each channel, once per torch minor (the
minors named, else those an expectation names for the channel, else those
the channel has wheels for; see ``expectations``). Everything verify needs
to know about the index comes from the index itself (channels.json), never
from matrix.yaml or the planner.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix.errors import UserError, shorten
from wheel_matrix.index import journal, landing, pages
from wheel_matrix.index.expectations import Expected, plan_resolution
from wheel_matrix.index.page_check import Fault, Findings, PageChecker, Reader
from wheel_matrix.plan.label import Label
from wheel_matrix.plan.recipes import PYPI_CHANNEL

__all__ = ["Expected", "Fault", "VerifyReport", "verify_index"]


@dataclass(frozen=True)
class VerifyReport:
    target: str
    channels: tuple[str, ...]
    files: int  # wheels checked
    faults: tuple[Fault, ...]
    notes: tuple[str, ...] = ()
    resolved: tuple[tuple[str, str], ...] = ()  # (channel, torch minor) pip and uv resolved

    @property
    def ok(self) -> bool:
        return not self.faults


def folder_reader(root: Path) -> Reader:
    """Read as ``serve`` serves: nothing that resolves outside ``root`` is there."""
    base = root.resolve()

    def read(relpath: str) -> bytes | None:
        if "\0" in relpath or len(relpath) > 4096:
            return None
        path = root / relpath
        try:
            real = path.resolve()
            if real != base and base not in real.parents:
                return None
            return path.read_bytes() if path.is_file() else None
        except OSError:
            return None

    return read


def url_reader(base: str) -> Reader:
    base = base.rstrip("/") + "/"

    def read(relpath: str) -> bytes | None:
        try:
            with urllib.request.urlopen(base + relpath, timeout=60) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as err:
            if err.code in (403, 404):  # S3 answers 403 for a missing key without list rights
                return None
            raise UserError(f"{base}{relpath}: HTTP {err.code} {err.reason}") from err
        except urllib.error.URLError as err:
            raise UserError(f"{base}{relpath}: cannot fetch: {err.reason}") from err

    return read


def verify_index(
    target: str,
    channels: list[str] | None = None,
    *,
    resolve: bool = False,
    torches: list[str] | None = None,
    expected: Expected | None = None,
) -> VerifyReport:
    """Verify the index at ``target``: a folder, or an http(s) URL of its root."""
    is_url = target.startswith(("http://", "https://"))
    for channel in channels or ():
        if not landing.CHANNEL.fullmatch(channel):
            raise UserError(f"--channel {shorten(channel)}: not a channel name such as cu130")
    read = url_reader(target) if is_url else folder_reader(Path(target))
    if not is_url and not Path(target).is_dir():
        raise UserError(f"{target}: no such index folder")

    def run() -> VerifyReport:
        notes: list[str] = []
        compare = True
        if not is_url and journal.pending(Path(target)):
            # Mid-commit the two forms of a page are swapped one after the other.
            compare = False
            notes.append(
                "an interrupted publish is pending: run `wheel-matrix index` to "
                "finish it (HTML/JSON agreement not checked)"
            )
        raw = read(landing.DATA_FILE)
        faults: list[Fault] = []
        data = None
        if raw is not None:
            try:
                data = landing.parse_data(raw, landing.DATA_FILE)
            except UserError as exc:
                message = str(exc).removeprefix(f"{landing.DATA_FILE}: ")
                faults.append(Fault(landing.DATA_FILE, message))
        elif not channels:
            raise UserError(
                f"{target}: no channels found (no {landing.DATA_FILE}); name them with --channel"
            )
        wanted = channels or (sorted(data.channels) if data is not None else [])
        pypi = data.pypi if data is not None else {}
        project = data.project if data is not None else ""
        checker = PageChecker(read, compare, pypi, project)
        checker.found.faults += faults
        if not channels:
            _landing_page(checker)
        for channel in wanted:
            checker.channel(channel)
        found = checker.found
        # Mid-commit, files are on their way in; without channels.json, no channel is listed.
        if not is_url and compare and (data is not None or channels):
            found.faults += unlisted(Path(target), found, channels, data)
        resolved: list[tuple[str, str]] = []
        if resolve:
            expect = expected
            if expect is not None and channels:
                # Channels left out on purpose are not missing.
                named = {c: t for c, t in expect.torches.items() if c in channels}
                expect = Expected(named, expect.source)
            plan = plan_resolution(
                wanted, found.live, found.yanked, torches=torches, expected=expect, project=project
            )
            found.faults += plan.faults
            notes.extend(plan.notes)
            resolved = _resolve(target, is_url, plan.torches, found, pypi, project)
        return VerifyReport(
            target, tuple(wanted), found.files, tuple(found.faults), tuple(notes), tuple(resolved)
        )

    if is_url:
        return run()
    with journal.locked(Path(target), shared=True):
        return run()


def _landing_page(checker: PageChecker) -> None:
    raw = checker.read(pages.PAGE_HTML)
    if raw is None:
        checker.fault(pages.PAGE_HTML, "missing (the landing page)")
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        checker.fault(pages.PAGE_HTML, "not UTF-8")


# What an index root holds besides its channels: never listed by a page, never a fault.
# (.git and CNAME: a GitHub Pages tree is a checkout, with its custom domain.)
ROOT_EXTRAS = frozenset(
    {journal.LOCK, ".nojekyll", landing.DATA_FILE, pages.PAGE_HTML, ".git", "CNAME"}
)


def unlisted(
    root: Path, found: Findings, only: list[str] | None, data: landing.IndexData | None
) -> list[Fault]:
    """Faults for what the index tree holds that no page lists: stray files, channel folders
    channels.json doesn't name, and symbolic links (``serve`` refuses one that leaves the
    root, so a wheel replaced by one verifies but cannot be installed)."""
    faults: list[Fault] = []
    base = root.resolve()
    named = set(data.channels) if data is not None else set()
    tops = sorted(only) if only else sorted(p.name for p in root.iterdir())
    for top in tops:
        if not only and top in ROOT_EXTRAS:
            continue
        path = root / top
        if not only and path.is_dir() and not path.is_symlink() and top not in named:
            faults.append(Fault(f"{top}/", f"a channel folder {landing.DATA_FILE} doesn't list"))
            continue
        for entry in _tree(path):
            relpath = entry.relative_to(root).as_posix()
            if entry.is_symlink():
                real = entry.resolve()
                outside = real != base and base not in real.parents
                what = "to outside the index (serve refuses it)" if outside else "in the index"
                faults.append(Fault(relpath, f"a symbolic link {what}: the index holds files"))
            elif relpath not in found.asked and not any(
                relpath.startswith(folder + "/") for folder in found.unreadable
            ):
                faults.append(Fault(relpath, "in the index but listed by no page"))
    return faults


def _tree(path: Path) -> list[Path]:
    """Every file, symlink and odd entry below ``path`` (or ``path`` itself); symlinks are
    not followed."""
    if path.is_symlink() or not path.is_dir():
        return [path] if path.exists() or path.is_symlink() else []
    found: list[Path] = []
    for folder, dirs, files in os.walk(path):
        here = Path(folder)
        found += [here / d for d in dirs if (here / d).is_symlink()]
        found += [here / f for f in files]
    return sorted(found)


def _resolve(
    target: str,
    is_url: bool,
    torches: dict[str, list[str]],
    found: Findings,
    pypi: dict[str, str],
    project: str,
) -> list[tuple[str, str]]:
    from wheel_matrix.index.installers import check_channel
    from wheel_matrix.index.serve import serving

    done: list[tuple[str, str]] = []
    if not any(torches.values()):
        return done
    with nullcontext(target) if is_url else serving(Path(target)) as base:
        for channel, minors in torches.items():
            if not minors:
                continue
            url = base.rstrip("/") + f"/{channel}/"
            requires = sorted(found.requires.get(channel, set()))
            # The pypi channel's build for a torch is its PyPI CUDA's; any other channel's, its own.
            wants = [
                Label(pypi.get(t, channel) if channel == PYPI_CHANNEL else channel, t)
                for t in minors
            ]
            for result in check_channel(url, project, wants, requires):
                if not result.ok:
                    found.faults.append(Fault(f"{channel}/", result.describe()))
            done += [(channel, t) for t in minors]
    return done
