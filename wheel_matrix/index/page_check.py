"""Checking a published index's pages and files as an installer reads them.

Pages are read with ``pypi-simple``, a parser independent of the one that
wrote them, in both forms (PEP 503 HTML, PEP 691 JSON), which must agree.
Every link must stay inside the index and match its file's sha256; every
``.metadata`` must match its hash and its wheel's METADATA; each file name's
version is its METADATA version; every wheel's label fits its channel (the
pypi channel: the build of PyPI's torch, per channels.json). Each problem is
one ``Fault``; nothing here raises for a malformed index.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import unquote

import pypi_simple
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from wheel_matrix.errors import UserError, shorten
from wheel_matrix.index import pages
from wheel_matrix.plan.label import label_of_version
from wheel_matrix.plan.recipes import PYPI_CHANNEL
from wheel_matrix.wheel.facts import ZIP_ERRORS, dist_info_metadata, parse_core_metadata

Reader = Callable[[str], bytes | None]  # relpath -> bytes, None if absent

# Stands in for wherever the index is served (below a folder of its own, so that a
# link climbing out of the index shows); links are resolved against it.
_BASE = "https://host.invalid/index/"
_UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
# What pypi-simple raises for a page it cannot read (beyond the usual ValueError & co).
_PAGE_ERRORS = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    RecursionError,
    pypi_simple.UnsupportedRepoVersionError,
    pypi_simple.UnparsableFilenameError,
)


@dataclass(frozen=True)
class Fault:
    where: str  # a relpath inside the index, or a channel
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Listing:
    """One file as a project page lists it."""

    relpath: str  # where the link points, inside the index
    sha256: str | None
    requires_python: str | None
    metadata_sha256: str | None
    yanked: str | None  # None: not yanked
    size: int | None = None  # JSON only
    upload_time: str | None = None  # JSON only, as written


@dataclass
class Findings:
    """What the check found, beyond faults: what the resolution check needs."""

    faults: list[Fault] = field(default_factory=list)
    files: int = 0
    live: dict[str, set[str]] = field(default_factory=dict)  # channel -> torch minors, unyanked
    yanked: dict[str, set[str]] = field(default_factory=dict)  # channel -> only yanked ones
    requires: dict[str, set[str]] = field(default_factory=dict)  # channel -> Requires-Dist
    asked: set[str] = field(default_factory=set)  # every relpath read or linked: the listed tree
    unreadable: set[str] = field(default_factory=set)  # folders whose page could not be read


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(raw: bytes, where: str, findings: Findings) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        findings.faults.append(Fault(where, "not UTF-8"))
        return None


class PageChecker:
    def __init__(
        self, read: Reader, compare_forms: bool, pypi: Mapping[str, str], project: str
    ) -> None:
        self._read = read
        self.compare_forms = compare_forms
        self.pypi = pypi  # torch minor -> the channel of PyPI's torch build
        self.project = canonicalize_name(project)
        self.found = Findings()

    def read(self, relpath: str) -> bytes | None:
        self.found.asked.add(relpath)
        return self._read(relpath)

    def fault(self, where: str, message: str) -> None:
        self.found.faults.append(Fault(where, message))

    def html_page(self, folder: str, missing: str) -> str | None:
        """The folder's index.html as text, or None after noting why there is none."""
        where = f"{folder}/{pages.PAGE_HTML}"
        raw = self.read(where)
        if raw is None:
            self.fault(f"{folder}/", missing)
            return None
        text = _text(raw, where, self.found)
        if text is None:
            self.found.unreadable.add(folder)
        return text

    def page_fault(self, folder: str, where: str, message: str) -> None:
        """A page that cannot be read: what its folder holds is not judged by it."""
        self.found.unreadable.add(folder)
        self.fault(where, message)

    def channel(self, channel: str) -> None:
        where = f"{channel}/{pages.PAGE_HTML}"
        html = self.html_page(channel, "channel has no index.html")
        if html is None:
            return None
        try:
            page = pypi_simple.IndexPage.from_html(html)
        except _PAGE_ERRORS as exc:
            message = f"not a simple root page: {shorten(str(exc), 120, quote=False)}"
            return self.page_fault(channel, where, message)
        if page.repository_version is None:
            self.fault(where, "no pypi:repository-version meta tag")
        projects = list(page.projects)
        raw_json = self.read(f"{channel}/{pages.PAGE_JSON}")
        if raw_json is None:
            self.fault(f"{channel}/{pages.PAGE_JSON}", "missing (the JSON root page)")
        else:
            try:
                listed = [p["name"] for p in json.loads(raw_json)["projects"]]
                if self.compare_forms and sorted(listed) != sorted(projects):
                    self.fault(f"{channel}/", f"HTML lists {projects}, JSON lists {listed}")
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                message = f"not a simple root page: {shorten(str(exc), 120, quote=False)}"
                self.fault(f"{channel}/{pages.PAGE_JSON}", message)
        for project in projects:
            self.project_page(channel, str(project))
        return None

    def _listings(self, base: str, page: pypi_simple.ProjectPage) -> dict[str, Listing]:
        out: dict[str, Listing] = {}
        for package in page.packages:
            url = package.url
            relpath = url[len(_BASE) :] if url.startswith(_BASE) else ""
            # Decoded, a link may still climb out (%2e%2e/) or hide a NUL.
            decoded = unquote(relpath.partition("#")[0].partition("?")[0])
            if not relpath or ".." in decoded.split("/") or "\0" in decoded:
                message = f"link leaves the index: {shorten(url)}"
                self.fault(f"{base}/{shorten(package.filename, quote=False)}", message)
                continue
            out[package.filename] = Listing(
                relpath=decoded,
                sha256=package.digests.get("sha256"),
                requires_python=package.requires_python,
                metadata_sha256=(package.metadata_digests or {}).get("sha256"),
                yanked=package.yanked_reason if package.is_yanked else None,
                size=package.size,
                upload_time=(
                    package.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    if package.upload_time
                    else None
                ),
            )
        return out

    def project_page(self, channel: str, project: str) -> None:
        base = f"{channel}/{project}"
        where = f"{base}/{pages.PAGE_HTML}"
        html = self.html_page(base, "listed on the channel page but has no page")
        if html is None:
            return None
        page_url = f"{_BASE}{base}/"
        try:
            repo = pypi_simple.RepositoryPage.from_html(html, base_url=page_url)
            parsed = pypi_simple.ProjectPage.from_html(project, html, page_url)
        except _PAGE_ERRORS as exc:
            message = f"not a simple project page: {shorten(str(exc), 120, quote=False)}"
            return self.page_fault(base, where, message)
        if repo.repository_version is None:
            self.fault(where, "no pypi:repository-version meta tag")
        for link in repo.links:
            href = str(link.attrs.get("href") or "")
            if "+" in href.partition("#")[0]:
                self.fault(f"{base}/{link.text}", "bare '+' in href (S3 reads it as a space)")
            if "#sha256=" not in href:
                self.fault(f"{base}/{link.text}", f"link has no #sha256= fragment: {href!r}")
            if link.attrs.get("data-core-metadata") != link.attrs.get("data-dist-info-metadata"):
                self.fault(f"{base}/{link.text}", "data-core-metadata != data-dist-info-metadata")
        html_files = self._listings(base, parsed)
        for filename, listing in html_files.items():
            self.file(channel, filename, listing)
        self.one_file_per_version_and_tag(base, list(html_files))
        if self.compare_forms:
            self.json_page(base, page_url, html_files)
        return None

    def one_file_per_version_and_tag(self, base: str, filenames: list[str]) -> None:
        """Two files of one version (as PEP 440 compares it) and tag: installers pick either."""
        seen: dict[tuple[Version, object], str] = {}
        for filename in sorted(filenames):
            try:
                _name, version, _build, tags = parse_wheel_filename(filename)
            except ValueError:
                continue  # named by file()
            for tag in sorted(tags, key=str):
                other = seen.setdefault((version, tag), filename)
                if other != filename:
                    self.fault(
                        f"{base}/{filename}",
                        f"version {version} for {tag} is also {other}: one of them is a "
                        "second file of a published version",
                    )
                    break

    def json_page(self, base: str, page_url: str, html_files: Mapping[str, Listing]) -> None:
        where = f"{base}/{pages.PAGE_JSON}"
        raw = self.read(where)
        if raw is None:
            return self.fault(where, "missing (the JSON project page)")
        try:
            data = json.loads(raw)
            page = pypi_simple.ProjectPage.from_json_data(data, base_url=page_url)
        except _PAGE_ERRORS as exc:
            message = f"not a simple project page: {shorten(str(exc), 120, quote=False)}"
            return self.page_fault(base, where, message)
        if page.repository_version is None:
            self.fault(where, "no meta.api-version")
        json_files = self._listings(base, page)
        found_versions: set[Version] = set()
        for name in json_files:
            try:
                found_versions.add(parse_wheel_filename(name)[1])
            except ValueError as exc:  # InvalidWheelFilename, a number too long, ...
                self.fault(where, f"lists {shorten(name)}, not a wheel file name: {exc}")
        versions = [str(v) for v in sorted(found_versions)]
        if page.versions != versions:
            self.fault(where, f"versions {page.versions} != the files' {versions}")
        if sorted(json_files) != sorted(html_files):
            only_json = sorted(set(json_files) - set(html_files))
            only_html = sorted(set(html_files) - set(json_files))
            self.fault(
                where,
                f"JSON and HTML list different files: only in JSON {only_json}, "
                f"only in HTML {only_html}",
            )
        for name, listing in json_files.items():
            other = html_files.get(name)
            if other is None:
                continue
            # HTML carries no size or upload time; everything else must agree.
            if listing != Listing(**{**other.__dict__, "size": listing.size,
                                     "upload_time": listing.upload_time}):
                self.fault(f"{base}/{name}", "JSON and HTML pages disagree about this file")
            if listing.upload_time is None or not _UPLOAD_TIME.match(listing.upload_time):
                self.fault(f"{base}/{name}", f"bad upload-time {listing.upload_time!r}")
            data_file = self.read(listing.relpath)
            if data_file is not None and len(data_file) != listing.size:
                actual = len(data_file)
                self.fault(f"{base}/{name}", f"JSON size {listing.size} != file size {actual}")
        return None

    def file(self, channel: str, filename: str, listing: Listing) -> None:
        where = listing.relpath
        if listing.metadata_sha256 is not None:
            self.found.asked.add(where + ".metadata")  # listed, even if the wheel is missing
        if posixpath.basename(where) != filename:
            self.fault(where, f"linked as {filename!r}")
        data = self.read(where)
        if data is None:
            return self.fault(where, "linked but missing")
        self.found.files += 1
        if listing.sha256 != _sha(data):
            self.fault(where, f"sha256 is {_sha(data)}, the link says {listing.sha256}")
        try:
            _name, file_version, _build, _tags = parse_wheel_filename(filename)
        except ValueError as exc:  # InvalidWheelFilename, a number too long, ...
            return self.fault(where, f"not a wheel file name: {exc}")
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                # The intake's own reading: bounded, and refusing members that leave the target.
                inner = dist_info_metadata(archive, where)
        except ZIP_ERRORS as exc:
            reason = shorten(str(exc), 120, quote=False)
            return self.fault(where, f"not a readable zip file: {reason}")
        except UserError as exc:
            return self.fault(where, str(exc).removeprefix(f"{where}: "))
        meta = parse_core_metadata(inner)
        try:
            if Version(meta.version or "") != file_version:
                self.fault(
                    where, f"file name version {file_version} != METADATA version {meta.version}"
                )
            self._label(channel, where, meta.name or "", meta.version or "", listing.yanked)
        except (ValueError, UserError) as exc:
            self.fault(where, f"METADATA Version {meta.version!r}: {exc}")
        self.found.requires.setdefault(channel, set()).update(meta.requires_dist)
        if listing.requires_python != meta.requires_python:
            self.fault(
                where,
                f"data-requires-python {listing.requires_python!r} != METADATA "
                f"{meta.requires_python!r}",
            )
        if listing.metadata_sha256 is None:
            return None
        served = self.read(where + ".metadata")
        if served is None:
            return self.fault(where + ".metadata", "announced by data-core-metadata but missing")
        if listing.metadata_sha256 != _sha(served):
            self.fault(
                where + ".metadata",
                f"sha256 is {_sha(served)}, the link says sha256={listing.metadata_sha256}",
            )
        if served != inner:
            self.fault(where + ".metadata", "differs from the wheel's METADATA")
        return None

    def _label(self, channel: str, where: str, name: str, version: str, yanked: str | None) -> None:
        label = label_of_version(version)
        if canonicalize_name(name) == self.project:
            found = self.found.yanked if yanked is not None else self.found.live
            found.setdefault(channel, set()).add(label.torch)
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
                where, f"built for channel {label.channel} (label {label}), published in {channel}"
            )
