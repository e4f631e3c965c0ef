"""``verify``: check a published index, in a folder or at a URL, as installers see it.

Every link's hash matches its file; every ``.metadata`` file matches its
hash and its wheel's METADATA; each file name's version is its METADATA
version; every wheel in a channel carries that channel's label; the HTML and
JSON forms of each page agree. Each fault is reported with where it is.

With ``resolve``, real pip and uv also resolve causal-conv1d in each channel,
once per torch minor: the minors named, else every minor an expectation names
for that channel (what matrix.yaml builds, or the wheels a release just
built; a minor with no live wheel there is a fault), else those the channel
has wheels for.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from wheel_matrix.errors import UserError
from wheel_matrix.index import landing, simple, transaction
from wheel_matrix.index.recipes import PROJECT, PYPI_CHANNEL
from wheel_matrix.index.wheelfile import parse_metadata
from wheel_matrix.label import label_of_version

_UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


@dataclass(frozen=True)
class Fault:
    where: str  # a relpath inside the index, or a channel
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


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


Reader = Callable[[str], bytes | None]  # relpath -> bytes, None if absent


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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Checker:
    def __init__(self, read: Reader, compare_forms: bool, pypi: Mapping[str, str]) -> None:
        self.read = read
        self.compare_forms = compare_forms
        self.pypi = pypi  # torch minor -> the channel of PyPI's torch build
        self.faults: list[Fault] = []
        self.files = 0
        # Per channel, what the resolution check needs: the torch minors with a live
        # (unyanked) causal-conv1d wheel, those with only yanked ones, and Requires-Dist.
        self.torches: dict[str, set[str]] = {}
        self.yanked_torches: dict[str, set[str]] = {}
        self.requires: dict[str, set[str]] = {}

    def fault(self, where: str, message: str) -> None:
        self.faults.append(Fault(where, message))

    def channel(self, channel: str) -> None:
        html = self.read(f"{channel}/{simple.PAGE_HTML}")
        raw_json = self.read(f"{channel}/{simple.PAGE_JSON}")
        if html is None:
            return self.fault(f"{channel}/", "channel has no index.html")
        anchors, meta = simple.parse_html(html.decode())
        if "pypi:repository-version" not in meta:
            self.fault(f"{channel}/{simple.PAGE_HTML}", "no pypi:repository-version meta tag")
        projects = [unquote(a.href).rstrip("/") for a in anchors]
        if raw_json is None:
            self.fault(f"{channel}/{simple.PAGE_JSON}", "missing (the JSON root page)")
        else:
            try:
                listed = simple.load_root_json(raw_json, f"{channel}/{simple.PAGE_JSON}")
                if self.compare_forms and sorted(listed) != sorted(projects):
                    self.fault(f"{channel}/", f"HTML lists {projects}, JSON lists {listed}")
            except UserError as exc:
                self.fault(f"{channel}/{simple.PAGE_JSON}", str(exc))
        for project in projects:
            self.project(channel, project)
        return None

    def project(self, channel: str, project: str) -> None:
        base = f"{channel}/{project}"
        html = self.read(f"{base}/{simple.PAGE_HTML}")
        if html is None:
            return self.fault(f"{base}/", "listed on the channel page but has no page")
        anchors, meta = simple.parse_html(html.decode())
        if "pypi:repository-version" not in meta:
            self.fault(f"{base}/{simple.PAGE_HTML}", "no pypi:repository-version meta tag")
        seen: dict[str, tuple[str, str | None, str | None, str | None, str]] = {}
        for anchor in anchors:
            href, _, fragment = anchor.href.partition("#")
            if "+" in href:
                self.fault(f"{base}/{href}", "bare '+' in href (S3 reads it as a space)")
            target = posixpath.normpath(posixpath.join(base, unquote(href)))
            filename = posixpath.basename(target)
            if target.startswith(("../", "/")) or "://" in href:
                self.fault(f"{base}/{filename}", f"link leaves the index: {anchor.href!r}")
                continue
            algo, _, digest = fragment.partition("=")
            if algo != "sha256" or not digest:
                self.fault(f"{base}/{filename}", f"link has no #sha256= fragment: {anchor.href!r}")
            core = anchor.get("data-core-metadata")
            if core != anchor.get("data-dist-info-metadata"):
                self.fault(f"{base}/{filename}", "data-core-metadata != data-dist-info-metadata")
            seen[filename] = (
                digest,
                anchor.get("data-requires-python"),
                core,
                anchor.get("data-yanked"),
                href,
            )
            self.file(
                channel,
                target,
                digest,
                core,
                anchor.get("data-requires-python"),
                yanked=anchor.get("data-yanked") is not None,
            )
        if self.compare_forms:
            self.json_page(base, seen)
        return None

    def json_page(
        self, base: str, seen: dict[str, tuple[str, str | None, str | None, str | None, str]]
    ) -> None:
        where = f"{base}/{simple.PAGE_JSON}"
        raw = self.read(where)
        if raw is None:
            return self.fault(where, "missing (the JSON project page)")
        try:
            page = simple.load_project_json(raw, where)
            doc = json.loads(raw)
        except UserError as exc:
            return self.fault(where, str(exc))
        if doc.get("meta", {}).get("api-version") is None:
            self.fault(where, "no meta.api-version")
        if doc.get("versions") != list(page.versions):
            self.fault(where, f"versions {doc.get('versions')} != the files' {list(page.versions)}")
        listed = {f.filename: f for f in page.files}
        if sorted(listed) != sorted(seen):
            only_json = sorted(set(listed) - set(seen))
            only_html = sorted(set(seen) - set(listed))
            self.fault(
                where,
                f"JSON and HTML list different files: only in JSON {only_json}, "
                f"only in HTML {only_html}",
            )
        for name, f in listed.items():
            if name not in seen:
                continue
            digest, requires_python, core, yanked, href = seen[name]
            json_core = f"sha256={f.metadata_sha256}" if f.metadata_sha256 else None
            if (f.sha256, f.requires_python, json_core, f.yanked, f.href) != (
                digest,
                requires_python,
                core,
                yanked,
                href,
            ):
                self.fault(f"{base}/{name}", "JSON and HTML pages disagree about this file")
            if not _UPLOAD_TIME.match(f.upload_time):
                self.fault(f"{base}/{name}", f"bad upload-time {f.upload_time!r}")
            data = self.read(posixpath.normpath(posixpath.join(base, unquote(f.href))))
            if data is not None and len(data) != f.size:
                self.fault(f"{base}/{name}", f"JSON size {f.size} != file size {len(data)}")
        return None

    def file(
        self,
        channel: str,
        where: str,
        digest: str,
        core: str | None,
        requires_python: str | None,
        yanked: bool = False,
    ) -> None:
        filename = posixpath.basename(where)
        data = self.read(where)
        if data is None:
            return self.fault(where, "linked but missing")
        self.files += 1
        if _sha(data) != digest:
            self.fault(where, f"sha256 is {_sha(data)}, the link says {digest}")
        try:
            _name, file_version, _build, _tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            return self.fault(where, f"not a wheel file name: {exc}")
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = [
                    n
                    for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                ]
                inner = archive.read(names[0]) if len(names) == 1 else None
        except zipfile.BadZipFile:
            return self.fault(where, "not a zip file")
        if inner is None:
            return self.fault(where, "no single .dist-info/METADATA inside")
        meta = parse_metadata(inner)
        version = meta.get("Version", "")
        if Version(version) != file_version:
            self.fault(where, f"file name version {file_version} != METADATA version {version}")
        try:
            label = label_of_version(version)
            if canonicalize_name(meta.get("Name", "")) == PROJECT:
                found = self.yanked_torches if yanked else self.torches
                found.setdefault(channel, set()).add(label.torch)
            self.requires.setdefault(channel, set()).update(meta.get_all("Requires-Dist") or ())
            if channel == PYPI_CHANNEL:
                wanted = self.pypi.get(label.torch)
                if label.channel != wanted:
                    self.fault(
                        where,
                        f"listed in {channel} for torch {label.torch}, whose PyPI build is "
                        f"{wanted or 'unknown to channels.json'}, but built for {label.channel}",
                    )
            elif label.channel != channel:
                self.fault(
                    where,
                    f"built for channel {label.channel} (label {label}), published in {channel}",
                )
        except UserError as exc:
            self.fault(where, str(exc))
        if requires_python != meta.get("Requires-Python"):
            self.fault(
                where,
                f"data-requires-python {requires_python!r} != METADATA "
                f"{meta.get('Requires-Python')!r}",
            )
        if core is None:
            return None
        served = self.read(where + ".metadata")
        if served is None:
            return self.fault(where + ".metadata", "announced by data-core-metadata but missing")
        if core != f"sha256={_sha(served)}":
            self.fault(where + ".metadata", f"sha256 is {_sha(served)}, the link says {core}")
        if served != inner:
            self.fault(where + ".metadata", "differs from the wheel's METADATA")
        return None


def _minor_key(torch: str) -> tuple[int, ...]:
    return tuple(int(p) for p in torch.split("."))


@dataclass(frozen=True)
class Expected:
    """The torch minors each channel must have: what matrix.yaml builds, or what was just built."""

    torches: Mapping[str, Sequence[str]]  # channel -> torch minors
    source: str  # what says so, for messages: "matrix.yaml builds", "dist/wheels holds"


@dataclass
class ResolutionPlan:
    """Which torch minors to resolve in each channel, and what is wrong before trying."""

    torches: dict[str, list[str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_resolution(
    channels: list[str],
    live: Mapping[str, set[str]],
    yanked: Mapping[str, set[str]] | None = None,
    *,
    torches: list[str] | None = None,
    expected: Expected | None = None,
) -> ResolutionPlan:
    """The torch minors to resolve per channel.

    ``live`` (and ``yanked``) are the minors each channel has unyanked (only
    yanked) causal-conv1d wheels for. ``torches`` names the minors outright;
    otherwise ``expected`` says which each channel should have, and a minor it
    names that has no live wheel in the channel is a fault. Without either,
    each channel's own minors are resolved.
    """
    plan = ResolutionPlan()
    yanked = yanked or {}
    for channel in channels:
        have = live.get(channel, set())
        if torches:
            plan.torches[channel] = sorted(set(torches), key=_minor_key)
            continue
        if expected is None:
            plan.torches[channel] = sorted(have, key=_minor_key)
            continue
        wanted = sorted(expected.torches.get(channel, []), key=_minor_key)
        if not wanted:
            plan.notes.append(
                f"{channel}: nothing that {expected.source} is for this channel; "
                "nothing resolved there"
            )
        for torch in wanted:
            if torch in have:
                continue
            what = "only yanked" if torch in yanked.get(channel, set()) else "no"
            plan.faults.append(
                Fault(
                    f"{channel}/",
                    f"{what} {PROJECT} wheels for torch {torch}, which "
                    f"{expected.source} for this channel",
                )
            )
        extra = sorted(have - set(wanted), key=_minor_key)
        if extra and wanted:
            plan.notes.append(
                f"{channel}: torch {', '.join(extra)} is not what {expected.source} "
                "for this channel; not resolved"
            )
        plan.torches[channel] = [t for t in wanted if t in have]
    if expected is not None and not torches:
        for channel, named in sorted(expected.torches.items()):
            if channel not in channels and named:
                plan.faults.append(
                    Fault(
                        f"{channel}/",
                        f"no such channel, but {expected.source} torch "
                        f"{', '.join(sorted(named, key=_minor_key))} for it",
                    )
                )
    return plan


def verify_index(
    target: str,
    channels: list[str] | None = None,
    *,
    resolve: bool = False,
    torches: list[str] | None = None,
    expected: Expected | None = None,
) -> VerifyReport:
    """Verify the index at ``target``: a folder, or an http(s) URL of its root.

    With ``resolve``, real pip and uv also resolve causal-conv1d in each channel
    for each torch minor: ``torches`` if given, else every minor ``expected``
    names for the channel (each one without a live wheel there is a fault),
    else every minor the channel has wheels for.
    """
    is_url = target.startswith(("http://", "https://"))
    read = url_reader(target) if is_url else folder_reader(Path(target))
    notes: list[str] = []
    if not is_url and not Path(target).is_dir():
        raise UserError(f"{target}: no such index folder")

    def run() -> VerifyReport:
        compare = True
        if not is_url and transaction.pending(Path(target)):
            # Mid-commit the two forms of a page are swapped one after the other.
            compare = False
            notes.append(
                "an interrupted publish is pending: run `wheel-matrix index` to "
                "finish it (HTML/JSON agreement not checked)"
            )
        raw = read(landing.DATA_FILE)
        data = landing.parse_data(raw, landing.DATA_FILE) if raw is not None else None
        found = sorted(data.channels) if data is not None else []
        wanted = channels or found
        if not wanted:
            raise UserError(
                f"{target}: no channels found (no {landing.DATA_FILE}); name them with --channel"
            )
        checker = _Checker(read, compare, data.pypi if data is not None else {})
        for channel in wanted:
            checker.channel(channel)
        resolved: list[tuple[str, str]] = []
        if resolve:
            expect = expected
            if expect is not None and channels:
                # Channels left out on purpose are not missing.
                named = {c: t for c, t in expect.torches.items() if c in channels}
                expect = Expected(named, expect.source)
            plan = plan_resolution(
                wanted,
                checker.torches,
                checker.yanked_torches,
                torches=torches,
                expected=expect,
            )
            checker.faults += plan.faults
            notes.extend(plan.notes)
            resolved = _resolve(target, is_url, plan.torches, checker)
        return VerifyReport(
            target,
            tuple(wanted),
            checker.files,
            tuple(checker.faults),
            tuple(notes),
            tuple(resolved),
        )

    if is_url:
        return run()
    with transaction.locked(Path(target), shared=True):
        return run()


def _resolve(
    target: str, is_url: bool, torches: dict[str, list[str]], checker: _Checker
) -> list[tuple[str, str]]:
    from contextlib import nullcontext

    from wheel_matrix.index.resolve import check_channel
    from wheel_matrix.index.serve import serving

    done: list[tuple[str, str]] = []
    if not any(torches.values()):
        return done
    with nullcontext(target) if is_url else serving(Path(target)) as base:
        for channel, minors in torches.items():
            if not minors:
                continue
            url = base.rstrip("/") + f"/{channel}/"
            for result in check_channel(
                url, channel, minors, sorted(checker.requires.get(channel, set()))
            ):
                if not result.ok:
                    checker.fault(f"{channel}/", result.describe())
            done += [(channel, t) for t in minors]
    return done
