"""The Simple Repository API pages, as pure functions of the index state.

Each channel is its own simple root. A page exists in two forms side by side:
``index.html`` (PEP 503, what a static host serves for the folder URL) and
``index.json`` (PEP 691 v1+json, the explicit JSON endpoint for static hosts;
``serve`` returns either for the folder URL by Accept-header negotiation).
The JSON project page is also the stored state that incremental publishing
reads back, so it carries everything the HTML page says and more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from html import escape
from typing import Any
from urllib.parse import quote, unquote

from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename

from wheel_matrix.errors import UserError, shorten

# 1.1: PEP 700 (versions, size, upload-time) on top of PEP 691/658/714/592.
API_VERSION = "1.1"
PAGE_HTML = "index.html"
PAGE_JSON = "index.json"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"


@dataclass(frozen=True)
class IndexFile:
    """One distribution file as listed on a project page."""

    filename: str
    sha256: str
    size: int
    upload_time: str  # ISO 8601 UTC, "yyyy-mm-ddThh:mm:ss.ffffffZ" (PEP 700)
    requires_python: str | None
    metadata_sha256: str | None  # PEP 658 .metadata beside the file, if any
    yanked: str | None = None  # None: not yanked; "": yanked without a reason
    # Where the file lives when not beside the page: a path relative to the page's
    # folder. The pypi channel lists the wheels its compute channel holds.
    elsewhere: str | None = None

    @property
    def version(self) -> str:
        return str(parse_wheel_filename(self.filename)[1])

    @property
    def href(self) -> str:
        # quote() with no safe characters turns "+" into %2B: S3 and some CDNs
        # read a bare "+" in a path as a space.
        name = quote(self.filename, safe="")
        return f"{self.elsewhere}/{name}" if self.elsewhere else name


@dataclass(frozen=True)
class ProjectPage:
    name: NormalizedName
    files: tuple[IndexFile, ...]

    @property
    def versions(self) -> tuple[str, ...]:
        from packaging.version import Version

        return tuple(str(v) for v in sorted({Version(f.version) for f in self.files}))

    def with_files(self, files: list[IndexFile]) -> ProjectPage:
        return replace(self, files=tuple(sorted(files, key=lambda f: f.filename)))


def _head(title: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>{escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{escape(title)}</h1>",
    ]


def project_html(page: ProjectPage) -> bytes:
    lines = _head(f"Links for {page.name}")
    for f in page.files:
        attrs = [f'href="{escape(f.href)}#sha256={f.sha256}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{escape(f.requires_python)}"')
        if f.metadata_sha256:
            # PEP 714 name first; the PEP 658 name for installers that predate it.
            attrs.append(f'data-core-metadata="sha256={f.metadata_sha256}"')
            attrs.append(f'data-dist-info-metadata="sha256={f.metadata_sha256}"')
        if f.yanked is not None:
            attrs.append(f'data-yanked="{escape(f.yanked)}"')
        lines.append(f"    <a {' '.join(attrs)}>{escape(f.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def _file_json(f: IndexFile) -> dict[str, Any]:
    metadata: dict[str, str] | bool = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
    return {
        "filename": f.filename,
        "url": f.href,
        "hashes": {"sha256": f.sha256},
        "requires-python": f.requires_python,
        "size": f.size,
        "upload-time": f.upload_time,
        "yanked": (f.yanked or True) if f.yanked is not None else False,
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
    }


def project_json(page: ProjectPage) -> bytes:
    doc = {
        "meta": {"api-version": API_VERSION},
        "name": page.name,
        "versions": list(page.versions),
        "files": [_file_json(f) for f in page.files],
    }
    # Compact: installers download this page on every resolution.
    return (json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n").encode()


def root_html(projects: list[str]) -> bytes:
    lines = _head("Simple index")
    lines += [f'    <a href="{quote(p)}/">{escape(p)}</a><br>' for p in sorted(projects)]
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def root_json(projects: list[str]) -> bytes:
    doc = {
        "meta": {"api-version": API_VERSION},
        "projects": [{"name": p} for p in sorted(projects)],
    }
    # Compact: installers download this page on every resolution.
    return (json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n").encode()


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise UserError(f"{where}: not a v1 simple JSON page ({what})")


def _elsewhere(url: str, filename: str) -> str | None:
    """The folder part of a file's relative URL (None when the file sits beside the page)."""
    folder, _, name = url.rpartition("/")
    if unquote(name) != filename:
        raise ValueError(f"url {url!r} does not end in the file name")
    if folder and (folder.startswith("/") or "://" in folder):
        raise ValueError(f"url {url!r} is not relative to the page")
    return folder or None


def load_project_json(raw: bytes, where: str) -> ProjectPage:
    """Read a project page written by ``project_json`` back into its state."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{where}: not valid JSON: {shorten(str(exc), 120, quote=False)}") from None
    _expect(isinstance(doc, dict), where, "top level is not an object")
    _expect(isinstance(doc.get("files"), list), where, "no 'files' list")
    _expect(isinstance(doc.get("name"), str), where, "no 'name'")
    files = []
    for entry in doc["files"]:
        try:
            meta = entry.get("core-metadata") or entry.get("dist-info-metadata")
            yanked = entry.get("yanked", False)
            parse_wheel_filename(entry["filename"])  # a ValueError for a file name that isn't
            files.append(
                IndexFile(
                    filename=entry["filename"],
                    sha256=entry["hashes"]["sha256"],
                    size=int(entry["size"]),
                    upload_time=entry["upload-time"],
                    requires_python=entry.get("requires-python"),
                    metadata_sha256=meta["sha256"] if isinstance(meta, dict) else None,
                    yanked=None if yanked is False else ("" if yanked is True else str(yanked)),
                    elsewhere=_elsewhere(str(entry["url"]), entry["filename"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = shorten(str(exc), 120, quote=False)
            raise UserError(f"{where}: malformed file entry {shorten(entry)}: {reason}") from None
    return ProjectPage(name=canonicalize_name(doc["name"]), files=tuple(files))


def load_root_json(raw: bytes, where: str) -> list[str]:
    try:
        doc = json.loads(raw)
        return [str(p["name"]) for p in doc["projects"]]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        reason = shorten(str(exc), 120, quote=False)
        raise UserError(f"{where}: not a v1 simple root JSON page: {reason}") from None
