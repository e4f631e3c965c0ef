"""The grammars of values that configuration and the command line hand on to tools and files.

Each ``*_problem`` function says why a text is not such a value, or returns
None when it is one. The grammars are the consumers' own (TORCH_CUDA_ARCH_LIST
as torch's cpp_extension reads it, a Docker image reference as the
distribution library defines it), and every pattern is matched in full, so
no value can carry a newline or a shell word into a Dockerfile, a workflow or
a pip command line.
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from wheel_matrix.errors import shorten

# Grammars both configuration files use, matched in full.
MINOR = re.compile(r"\d{1,4}\.\d{1,4}", re.ASCII)  # a torch minor or a CUDA version
PYTHON = re.compile(r"3\.\d{1,3}", re.ASCII)
ARCHES = ("x86_64", "aarch64")

# TORCH_CUDA_ARCH_LIST: entries "X.Y", "X.Ya"/"X.Yf" (arch- and family-specific), each
# optionally "+PTX", separated by exactly one ";" or space (torch turns spaces into ";"
# and rejects the empty entry that a doubled separator makes).
_ARCH = r"\d{1,2}\.\d[af]?(?:\+PTX)?"
ARCH = re.compile(_ARCH, re.ASCII)
_ARCH_LIST = re.compile(rf"{_ARCH}(?:[; ]{_ARCH})*", re.ASCII)
_SM = re.compile(r"(?:sm|compute)_(\d{1,2})(\d)([af]?)", re.ASCII)


def arch_problem(entry: str) -> str | None:
    """Why ``entry`` is not one GPU arch such as 9.0, 9.0a or 9.0+PTX."""
    if ARCH.fullmatch(entry):
        return None
    if not entry:
        return "an empty entry (a doubled separator, or one at either end)"
    sm = _SM.fullmatch(entry)
    hint = f" (write {sm[1]}.{sm[2]}{sm[3]})" if sm else ""
    return f"{shorten(entry)} is not a GPU arch such as 9.0, 9.0a or 9.0+PTX{hint}"


def arch_list_problem(text: str) -> str | None:
    """Why ``text`` is not a TORCH_CUDA_ARCH_LIST such as ``8.0;9.0+PTX``."""
    if not text:
        return "empty (an arch list names at least one arch, e.g. 9.0)"
    if _ARCH_LIST.fullmatch(text):
        return None
    for entry in re.split(r"[; ]", text):
        problem = arch_problem(entry)
        if problem:
            return problem
    return f"{shorten(text)} is not a list such as 8.0;9.0+PTX"  # e.g. a tab separator


# A Docker image reference (github.com/distribution/reference): [domain/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII
)
_MAX_IMAGE = 512


def image_problem(text: str) -> str | None:
    """Why ``text`` is not a Docker image reference such as ``nvidia/cuda:13.0.2-devel``."""
    if len(text) <= _MAX_IMAGE and IMAGE.fullmatch(text):
        return None
    return f"{shorten(text)} is not an image reference such as nvidia/cuda:13.0.2-devel-rockylinux8"


# What may stand in an index URL: RFC 3986's characters less those a shell or a
# YAML/TOML/HTML file would read specially (quotes, $, `, \, spaces, parentheses).
_URL_TEXT = re.compile(r"[A-Za-z0-9._~:/?#@!&+,;=%-]+", re.ASCII)


def url_template_problem(text: str, placeholders: tuple[str, ...] = ("compute",)) -> str | None:
    """Why ``text`` is not an http(s) URL whose only ``{...}`` fields are ``placeholders``."""
    allowed = ", ".join(f"{{{p}}}" for p in placeholders)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"{shorten(text)} is not a URL template: {exc}"
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in placeholders:
            return f"unknown placeholder {shorten('{' + name + '}')} (only {allowed})"
        if spec or conversion:
            return f"{{{name}}} takes no format spec or conversion"
    url = text.format(**{p: "x" for p in placeholders})
    if not _URL_TEXT.fullmatch(url):
        return f"{shorten(text)} has characters a URL here may not have (spaces, quotes, $, …)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"{shorten(text)} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{shorten(text)} is not an http(s) URL"
    return None
