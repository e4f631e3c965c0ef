"""Incremental publishing into the local index folder.

The state of the index is the index itself: each project's ``index.json``
(PEP 691) lists its files with hashes, sizes, upload times and yank marks, so
adding wheels reads and rewrites only the pages of the (channel, project)
pairs they belong to, plus the landing page.

Nothing that doesn't belong is let in, and nothing published ever changes:
a version (compared as PEP 440 compares it: 1.7.0.0 is 1.7.0) that is
published for a wheel tag never gets another file for that tag, under its
name or any other spelling; a channel holds only its index's project (a
``torch`` wheel there would compete with PyPI's torch) and only builds for
the compute platforms the plan has. All of it is refused before anything is
written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from wheel_matrix.errors import UserError, did_you_mean, shorten
from wheel_matrix.index import journal, landing, pages
from wheel_matrix.index.journal import Write
from wheel_matrix.index.pages import IndexFile, ProjectPage
from wheel_matrix.plan.recipes import PYPI_CHANNEL
from wheel_matrix.wheel.facts import WheelFacts, read_wheel

METADATA_SUFFIX = ".metadata"  # PEP 658: the core metadata at <file URL>.metadata


@dataclass(frozen=True)
class PlanFacts:
    """What the plan tells the index, kept in channels.json for its readers (verify,
    which-index, the landing page), which never read matrix.yaml themselves."""

    project: str
    pypi: Mapping[str, str]  # torch minor -> the channel of PyPI's torch build
    torch_index: str  # PyTorch's index for a compute platform ("{compute}")
    # The compute channels the plan builds for (cpu, cu130, ...); () accepts any.
    # Only for intake: a label for another compute platform is refused.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelSummary:
    channel: str
    projects: tuple[str, ...]
    versions: int


@dataclass(frozen=True)
class IndexReport:
    """What a publish did: files added and skipped, and every file it wrote."""

    root: Path
    added: tuple[str, ...]  # relpaths of wheels newly published
    unchanged: tuple[str, ...]  # wheels already published with the same bytes
    written: tuple[str, ...]  # every relpath written, wheels and pages, in commit order
    channels: tuple[ChannelSummary, ...]  # the whole index after the publish

    @property
    def pages_written(self) -> tuple[str, ...]:
        return tuple(p for p in self.written if p.endswith((".html", ".json", ".nojekyll")))


def upload_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_wheels(paths: Iterable[Path]) -> list[WheelFacts]:
    """Read every wheel, refusing two different files with the same name."""
    by_name: dict[str, WheelFacts] = {}
    for path in paths:
        info = read_wheel(path)
        info.label  # noqa: B018 - a wheel without a build label is refused here, by name
        other = by_name.get(info.filename)
        if other is not None and other.sha256 != info.sha256:
            raise UserError(
                f"two different files named {info.filename}: {other.path} and {info.path}"
            )
        by_name.setdefault(info.filename, info)
    return [by_name[name] for name in sorted(by_name)]


def wheels_in(folder: Path) -> list[Path]:
    """The wheel store's wheels; anything else in it is an error, not ignored."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such wheel folder (build some wheels first)")
    paths = sorted(folder.iterdir())
    for path in paths:
        if path.name.startswith("."):
            raise UserError(
                f"{path}: a hidden file in the wheel store (a copy an interrupted build left? "
                "delete it): only .whl files belong here"
            )
        if path.is_symlink() or not path.is_file() or path.suffix != ".whl":
            raise UserError(f"{path}: not a wheel (only .whl files belong in {folder})")
    return paths


def project_dir(channel: str, project: str) -> str:
    return f"{channel}/{project}"


def load_project(root: Path, channel: str, project: str) -> ProjectPage | None:
    path = root / project_dir(channel, project) / pages.PAGE_JSON
    if not path.is_file():
        return None
    return pages.load_project_json(path.read_bytes(), str(path))


def channels_of(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / pages.PAGE_JSON).is_file())


def load_channel(root: Path, channel: str) -> list[str]:
    path = root / channel / pages.PAGE_JSON
    if not path.is_file():
        return []
    return pages.load_root_json(path.read_bytes(), str(path))


def _project_writes(channel: str, page: ProjectPage) -> list[Write]:
    base = project_dir(channel, page.name)
    # JSON before HTML: the JSON page is the state a re-run reads back.
    return [
        Write(f"{base}/{pages.PAGE_JSON}", pages.project_json(page)),
        Write(f"{base}/{pages.PAGE_HTML}", pages.project_html(page)),
    ]


def _landing_writes(
    root: Path,
    changed: dict[tuple[str, str], ProjectPage],
    base_url: str | None,
    told: PlanFacts | None,
) -> list[Write]:
    stored = landing.load_data(root)
    data = stored.channels
    index = landing.IndexData(
        data,
        {**stored.pypi, **(told.pypi if told else {})},
        told.torch_index if told and told.torch_index else stored.torch_index,
        told.project if told else stored.project,
    )
    for (channel, project), page in changed.items():
        # One pass over the files: a version is yanked only if all its files are.
        live: dict[str, bool] = {}
        arches: dict[str, set[str]] = {}
        for f in page.files:
            live[f.version] = live.get(f.version, False) or f.yanked is None
            arches.setdefault(f.version, set()).update(landing.machines(f.filename))
        data.setdefault(channel, {})[project] = [
            {"version": v, "yanked": not live[v], "arches": sorted(arches[v])}
            for v in page.versions
        ]
    writes = [
        Write(landing.DATA_FILE, landing.data_json(index)),
        Write(pages.PAGE_HTML, landing.landing_html(index, base_url)),
    ]
    if not (root / ".nojekyll").exists():
        # GitHub Pages would otherwise run Jekyll and hide files starting with "_".
        writes.insert(0, Write(".nojekyll", b""))
    return writes


def listings(info: WheelFacts, pypi: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Where a wheel is listed: (channel, folder of the file relative to that channel's page).

    Every wheel is listed, and stored, in the channel of its label. The pypi
    channel lists the build for PyPI's torch CUDA version of each torch minor,
    linking to the file in that compute channel rather than storing a copy.
    """
    found: list[tuple[str, str | None]] = [(info.channel, None)]
    if pypi.get(info.label.torch) == info.channel:
        found.append((PYPI_CHANNEL, f"../../{project_dir(info.channel, info.project)}"))
    return found


def _admit(root: Path, wheels: Sequence[WheelFacts], told: PlanFacts | None) -> None:
    """Refuse wheels that don't belong in this index: another project's, another compute
    platform's (than the plan's), or two files of one version and tag."""
    project = (told.project if told else "") or landing.load_data(root).project
    projects = {info.project for info in wheels}
    if not project and len(projects) > 1:
        raise UserError(
            f"wheels of {len(projects)} projects ({', '.join(sorted(projects))}): an index "
            "holds one project's builds"
        )
    for info in wheels:
        if project and info.project != canonicalize_name(project):
            raise UserError(
                f"{info.path}: a wheel of {info.project}, but this index is for {project} "
                "(another project's wheel would compete with its own index's)"
            )
        label = info.label
        if told is not None and told.channels and label.channel not in told.channels:
            raise UserError(
                f"{info.path}: built for compute platform {label.compute} (label {label}), "
                f"which is none of the plan's channels ({', '.join(told.channels)})"
            )
    _one_file_per_version_and_tag([(None, info.filename, info.tags, info.version)
                                   for info in wheels])


# A file as the version-and-tag rule sees it: (where it is published, or None for a new
# one; file name; tags; version).
_Listed = tuple[str | None, str, frozenset[Tag], str]


def _one_file_per_version_and_tag(files: Iterable[_Listed]) -> None:
    """Each (PEP 440 version, wheel tag) names one file."""
    seen: dict[tuple[Version, Tag], tuple[str | None, str]] = {}
    for where, filename, tags, version in files:
        key_version = Version(version)
        for tag in tags:
            other = seen.get((key_version, tag))
            if other is not None and other[1] != filename:
                known = f"published as {other[1]} in {other[0]}" if other[0] else f"in {other[1]}"
                raise UserError(
                    f"{filename}: version {key_version} for {tag} is already {known}; "
                    "a published version never gets another file: bump the version"
                )
            seen[(key_version, tag)] = (where, filename)


def _published(page: ProjectPage, where: str) -> list[_Listed]:
    found: list[_Listed] = []
    for f in page.files:
        try:
            _name, version, _build, tags = parse_wheel_filename(f.filename)
        except ValueError:  # InvalidWheelFilename, InvalidVersion, a number too long
            continue  # not a wheel this service wrote; verify names it
        found.append((where, f.filename, tags, str(version)))
    return found


def plan_add(
    root: Path,
    wheels: Sequence[WheelFacts],
    now: datetime,
    base_url: str | None = None,
    told: PlanFacts | None = None,
) -> tuple[list[Write], list[str], list[str]]:
    """The writes that publish ``wheels``: (writes, added relpaths, unchanged relpaths)."""
    _admit(root, wheels, told)
    mapping = {**landing.load_data(root).pypi, **(told.pypi if told else {})}
    groups: dict[tuple[str, str], list[tuple[WheelFacts, str | None]]] = defaultdict(list)
    for info in wheels:
        for channel, elsewhere in listings(info, mapping):
            groups[(channel, info.project)].append((info, elsewhere))
    file_writes: list[Write] = []
    changed: dict[tuple[str, str], ProjectPage] = {}
    added: list[str] = []
    unchanged: list[str] = []
    stamp = upload_time(now)
    for (channel, project), infos in sorted(groups.items()):
        page = load_project(root, channel, project) or ProjectPage(canonicalize_name(project), ())
        files = list(page.files)
        by_name = {f.filename: f for f in files}
        # Published first, so the message names the published file.
        _one_file_per_version_and_tag([
            *_published(page, f"{channel}/"),
            *[(None, i.filename, i.tags, i.version) for i, _ in infos],
        ])
        for info, elsewhere in infos:
            relpath = f"{project_dir(channel, project)}/{info.filename}"
            existing = by_name.get(info.filename)
            if existing is not None:
                if existing.sha256 != info.sha256:
                    raise UserError(
                        f"{info.path}: {relpath} is already published with other bytes "
                        f"(sha256 {existing.sha256[:12]}…, this file {info.sha256[:12]}…); "
                        "published files are immutable: bump the version instead"
                    )
                unchanged.append(relpath)
                continue
            if elsewhere is None:  # stored here; other listings link to it
                file_writes.append(Write(relpath, source=info.path, sha256=info.sha256))
                file_writes.append(Write(relpath + METADATA_SUFFIX, info.metadata))
                added.append(relpath)
            files.append(
                IndexFile(
                    filename=info.filename,
                    sha256=info.sha256,
                    size=info.size,
                    upload_time=stamp,
                    requires_python=info.requires_python,
                    metadata_sha256=info.metadata_sha256,
                    elsewhere=elsewhere,
                )
            )
        if len(files) != len(page.files):
            changed[(channel, project)] = page.with_files(files)
    writes = _page_writes(root, file_writes, changed, base_url, told)
    return writes, added, unchanged


def _page_writes(
    root: Path,
    file_writes: list[Write],
    changed: dict[tuple[str, str], ProjectPage],
    base_url: str | None,
    told: PlanFacts | None = None,
) -> list[Write]:
    if not changed:
        return []
    writes = list(file_writes)
    for (channel, _project), page in sorted(changed.items()):
        writes += _project_writes(channel, page)
    for channel in sorted({c for c, _ in changed}):
        projects = load_channel(root, channel)
        new = sorted(set(projects) | {p for c, p in changed if c == channel})
        if new != sorted(projects):
            writes.append(Write(f"{channel}/{pages.PAGE_JSON}", pages.root_json(new)))
            writes.append(Write(f"{channel}/{pages.PAGE_HTML}", pages.root_html(new)))
    return writes + _landing_writes(root, changed, base_url, told)


def summarise(root: Path) -> tuple[ChannelSummary, ...]:
    # From the landing data, not the project pages: a publish stays O(pages touched).
    data = landing.load_data(root).channels
    return tuple(
        ChannelSummary(c, tuple(sorted(data[c])), sum(len(v) for v in data[c].values()))
        for c in sorted(data)
    )


def build_index(
    wheels: Iterable[Path],
    out: Path,
    *,
    now: datetime | None = None,
    base_url: str | None = None,
    told: PlanFacts | None = None,
    lock_timeout: float = 60.0,
) -> IndexReport:
    """Publish ``wheels`` into the index folder ``out`` (created if missing).

    Incremental and idempotent: wheels already there with the same bytes are
    skipped; the pages they don't touch are not rewritten. ``told`` is what
    the plan says about the index (kept in channels.json).
    """
    infos = read_wheels(wheels)
    journal.check_root(out, create=True)
    _admit(out, infos, told)  # before the lock makes the folder; again under it, in plan_add
    with journal.locked(out, timeout=lock_timeout, create=True):
        journal.recover(out)
        writes, added, unchanged = plan_add(
            out, infos, now or datetime.now(UTC), base_url, told
        )
        journal.commit(out, writes)
        summary = summarise(out)
    return IndexReport(
        root=out,
        added=tuple(added),
        unchanged=tuple(unchanged),
        written=tuple(w.relpath for w in writes),
        channels=summary,
    )


@dataclass(frozen=True)
class YankReport:
    files: tuple[str, ...]  # relpaths whose yank mark changed
    written: tuple[str, ...]


def set_yanked(
    root: Path,
    version: str,
    *,
    project: str = "causal-conv1d",
    reason: str | None = "",
    base_url: str | None = None,
    lock_timeout: float = 60.0,
) -> YankReport:
    """Yank (``reason`` a string, possibly empty) or unyank (``reason=None``) a version.

    A version with a build label (``1.7.0+cu130torch2.14``) names one channel's
    files; a bare one (``1.7.0``) names that release in every channel.
    """
    try:
        wanted = Version(version)
    except ValueError:  # InvalidVersion, or a number too long to read
        raise UserError(f"not a PEP 440 version: {shorten(version)}") from None
    name = canonicalize_name(project)
    with journal.locked(root, timeout=lock_timeout):
        journal.recover(root)
        changed: dict[tuple[str, str], ProjectPage] = {}
        matched: list[str] = []
        touched: list[str] = []
        known: set[str] = set()
        for channel in channels_of(root):
            page = load_project(root, channel, name)
            if page is None:
                continue
            known.update(page.versions)
            files = []
            for f in page.files:
                v = Version(f.version)
                hit = v == wanted if wanted.local else v.public == wanted.public
                if hit:
                    matched.append(f"{project_dir(channel, name)}/{f.filename}")
                    if f.yanked != reason:
                        touched.append(matched[-1])
                        f = replace(f, yanked=reason)
                files.append(f)
            if files != list(page.files):
                changed[(channel, name)] = page.with_files(files)
        if not matched:
            if not known:
                raise UserError(f"{root}: project {name!r} is not in the index")
            raise UserError(
                f"{root}: {name} has no version {version}" + did_you_mean(version, known)
            )
        writes = _page_writes(root, [], changed, base_url)
        journal.commit(root, writes)
    return YankReport(tuple(touched), tuple(w.relpath for w in writes))
