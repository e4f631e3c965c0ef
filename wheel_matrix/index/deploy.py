"""Publish targets beyond the local folder: a GitHub Pages tree, an S3 bucket, twine.

Pages and S3 receive a copy of the local index (``dist/index``), which is
built first; both keep its rules: files before the pages that link to them,
and a published wheel is never overwritten with other bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wheel_matrix import log, proc
from wheel_matrix.errors import UserError
from wheel_matrix.index import http, journal, pages
from wheel_matrix.index.journal import Write

GITHUB_PAGES_FILE_LIMIT = 100 * 1024 * 1024  # GitHub refuses larger files in a repository


@dataclass(frozen=True)
class SyncReport:
    uploaded: tuple[str, ...]
    unchanged: int


def _is_file(relpath: str) -> bool:
    return relpath.endswith((".whl", ".metadata"))


def commit_order(relpaths: Sequence[str]) -> list[str]:
    """Wheels, then .metadata, then project pages, channel pages, and the landing page."""

    def rank(relpath: str) -> tuple[int, str]:
        if relpath.endswith(".whl"):
            return (0, relpath)
        if relpath.endswith(".metadata"):
            return (1, relpath)
        return (5 - relpath.count("/"), relpath)  # deeper pages first

    return sorted(relpaths, key=rank)


def local_files(root: Path) -> list[str]:
    if not (root / pages.PAGE_HTML).is_file():
        raise UserError(f"{root}: no index here (run `wheel-matrix index` first)")
    found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return commit_order([f for f in found if f != journal.LOCK])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish_pages(root: Path, dest: Path) -> SyncReport:
    """Copy the index into ``dest``, a GitHub Pages tree (a checkout of the Pages branch)."""
    writes: list[Write] = []
    unchanged = 0
    with journal.locked(dest, create=True):
        journal.recover(dest)
        for relpath in local_files(root):
            source, target = root / relpath, dest / relpath
            if source.stat().st_size > GITHUB_PAGES_FILE_LIMIT:
                raise UserError(
                    f"{source}: {log.format_size(source.stat().st_size)} is over "
                    "GitHub's 100 MiB file limit; publish to S3 instead"
                )
            if target.is_file():
                if target.read_bytes() == source.read_bytes():
                    unchanged += 1
                    continue
                if _is_file(relpath):
                    raise UserError(f"{target}: already published with other bytes")
            writes.append(Write(relpath, source=source, sha256=_sha(source)))
        journal.commit(dest, writes)
    return SyncReport(tuple(w.relpath for w in writes), unchanged)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/")."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise UserError(f"not an S3 URL: {url!r} (expected s3://BUCKET[/PREFIX])")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def publish_s3(root: Path, url: str, endpoint_url: str | None = None) -> SyncReport:
    """Upload the index to an S3-compatible bucket with installer-friendly headers.

    Each page is also stored under its folder key (``cu130/causal-conv1d/``),
    the URL installers request, since a bucket has no directory index.
    """
    client, bucket, prefix = _s3_client(url, endpoint_url)
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    existing: dict[str, str] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                existing[obj["Key"]] = obj["ETag"].strip('"')
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"{url}: cannot list the bucket: {exc}") from exc
    uploads: list[tuple[str, str, Path]] = []  # (key, relpath, source)
    unchanged = 0
    for relpath in local_files(root):
        source = root / relpath
        keys = [prefix + relpath]
        folder_key = prefix + relpath[: -len(pages.PAGE_HTML)]
        if relpath.endswith(pages.PAGE_HTML) and folder_key:
            keys.append(folder_key)
        md5 = hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest()
        for key in keys:
            if key not in existing:
                uploads.append((key, relpath, source))
            elif existing[key] == md5:
                unchanged += 1
            elif _is_file(relpath):
                raise UserError(f"s3://{bucket}/{key}: already published with other bytes")
            else:
                uploads.append((key, relpath, source))
    done = []
    for key, relpath, source in uploads:
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=source.read_bytes(),
                ContentType=http.content_type(relpath),
                CacheControl=http.cache_control(relpath),
            )
        except (BotoCoreError, ClientError) as exc:
            raise UserError(f"s3://{bucket}/{key}: upload failed: {exc}") from exc
        done.append(key)
    return SyncReport(tuple(done), unchanged)


def _s3_client(url: str, endpoint_url: str | None) -> tuple[Any, str, str]:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError as exc:
        raise UserError("publishing to S3 needs boto3: pip install boto3") from exc
    bucket, prefix = parse_s3_url(url)
    return boto3.client("s3", endpoint_url=endpoint_url), bucket, prefix


def pull_s3(url: str, root: Path, endpoint_url: str | None = None) -> SyncReport:
    """Fetch the published pages of an S3 index into ``root``, leaving its wheels where they are.

    The pages are the index's state (PEP 691 project pages list every file), so
    ``index`` can then add new wheels and ``publish`` upload only what changed.
    """
    client, bucket, prefix = _s3_client(url, endpoint_url)
    from botocore.exceptions import BotoCoreError, ClientError

    fetched: list[str] = []
    unchanged = 0
    # Pages land in an index folder, nowhere else, and not while a publish writes there.
    with journal.locked(root, create=True):
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for obj in page.get("Contents", []):
                    relpath = obj["Key"][len(prefix) :]
                    # Wheels and .metadata stay remote; folder keys are copies of index.html.
                    if not relpath or relpath.endswith("/") or _is_file(relpath):
                        continue
                    if _leaves(relpath):
                        raise UserError(
                            f"{url}: key {obj['Key']!r} would be written outside {root}"
                        )
                    body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    target = root / relpath
                    if target.is_file() and target.read_bytes() == body:
                        unchanged += 1
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(body)
                    fetched.append(relpath)
        except (BotoCoreError, ClientError) as exc:
            raise UserError(f"{url}: cannot read the bucket: {exc}") from exc
    return SyncReport(tuple(fetched), unchanged)


def _leaves(relpath: str) -> bool:
    """Whether a key, as a path below the index, would climb out of it."""
    parts = relpath.split("/")
    return relpath.startswith("/") or ".." in parts or "\\" in relpath or "\0" in relpath


def publish_twine(wheels: Sequence[Path], repository_url: str) -> None:
    """``twine upload`` the wheels to any registry (credentials: TWINE_USERNAME/PASSWORD)."""
    if not wheels:
        raise UserError("no wheels to upload")
    env = {} if "TWINE_USERNAME" in os.environ else {"TWINE_USERNAME": "__token__"}
    proc.run(
        [
            "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            repository_url,
            *wheels,
        ],
        env=env,
    )
