"""``verify``: check a published index, in a folder or at a URL, as installers see it.

The pages and files are checked by ``page_check``; with ``resolve``, real pip
and uv then resolve causal-conv1d in each channel, once per torch minor (the
minors named, else those an expectation names for the channel, else those
the channel has wheels for; see ``expectations``). Everything verify needs
to know about the index comes from the index itself (channels.json), never
from matrix.yaml or the planner.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from wheel_matrix.errors import UserError
from wheel_matrix.index import journal, landing
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
    def read(relpath: str) -> bytes | None:
        path = root / relpath
        return path.read_bytes() if path.is_file() else None

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
        data = landing.parse_data(raw, landing.DATA_FILE) if raw is not None else None
        wanted = channels or (sorted(data.channels) if data is not None else [])
        if not wanted:
            raise UserError(
                f"{target}: no channels found (no {landing.DATA_FILE}); name them with --channel"
            )
        pypi = data.pypi if data is not None else {}
        project = data.project if data is not None else ""
        checker = PageChecker(read, compare, pypi, project)
        for channel in wanted:
            checker.channel(channel)
        found = checker.found
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
