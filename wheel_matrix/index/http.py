"""Content types and cache headers, the same for ``serve`` and every hosted target."""

from __future__ import annotations

from wheel_matrix.index.pages import JSON_V1

HTML = "text/html; charset=utf-8"
# Wheels and their .metadata are served as opaque bytes: their sha256 is checked,
# so nothing on the way (a CDN's text transcoding) may touch them.
BINARY = "application/octet-stream"
# Published files never change (immutable publishing), pages do on every publish.
CACHE_FILE = "public, max-age=31536000, immutable"
CACHE_PAGE = "public, max-age=300, must-revalidate"


def content_type(relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    if name.endswith(".html") or name == "":
        return HTML
    if name == "index.json":
        return JSON_V1
    if name.endswith(".json"):
        return "application/json"
    return BINARY


def cache_control(relpath: str) -> str:
    return CACHE_FILE if relpath.endswith((".whl", ".metadata")) else CACHE_PAGE
