"""serve: a real HTTP server on 127.0.0.1 with PEP 691 content negotiation."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from wheel_matrix.index import build_index
from wheel_matrix.index.pages import HTML_V1, JSON_V1
from wheel_matrix.index.serve import negotiate, serving
from wheel_matrix.wheel.make import make_wheel

WHEEL = "causal_conv1d-1.7.0+cu130torch2.14-py3-none-any.whl"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    build_index([make_wheel(tmp / "w", "causal-conv1d", "1.7.0+cu130torch2.14")], tmp / "index")
    with serving(tmp / "index") as base:
        yield base


def get(url: str, accept: str | None = None, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    if accept is not None:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("text/html", "text/html"),
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        # What uv and pip send: JSON preferred, HTML as fallback.
        (f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01", JSON_V1),
        (f"{HTML_V1}, {JSON_V1};q=0.5", HTML_V1),
        ("*/*", JSON_V1),
        ("application/*;q=0.5, text/html", "text/html"),
        (f"{JSON_V1};q=0, text/*", "text/html"),
        ("image/png", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("accept", "ctype", "first"),
    [
        (JSON_V1, JSON_V1, b"{"),
        (HTML_V1, HTML_V1, b"<!DOCTYPE html>"),
        ("text/html", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
    ],
)
def test_project_page_negotiated(url: str, accept: str, ctype: str, first: bytes) -> None:
    status, got, body = get(url + "cu130/causal-conv1d/", accept)
    assert (status, got) == (200, ctype)
    assert body.startswith(first)


def test_root_page_negotiated(url: str) -> None:
    status, ctype, body = get(url + "cu130/", JSON_V1)
    assert (status, ctype) == (200, JSON_V1)
    assert json.loads(body)["projects"] == [{"name": "causal-conv1d"}]


def test_format_query_selects_like_accept(url: str) -> None:
    query = urllib.parse.quote(JSON_V1, safe="")
    status, ctype, _ = get(url + f"cu130/causal-conv1d/?format={query}", "text/html")
    assert (status, ctype) == (200, JSON_V1)


def test_unacceptable_is_406(url: str) -> None:
    assert get(url + "cu130/causal-conv1d/", "image/png")[0] == 406


def test_files_with_encoded_plus_and_their_types(url: str) -> None:
    quoted = WHEEL.replace("+", "%2B")
    status, ctype, body = get(url + "cu130/causal-conv1d/" + quoted)
    assert (status, ctype) == (200, "application/octet-stream")
    assert body.startswith(b"PK")
    status, _, body = get(url + "cu130/causal-conv1d/" + quoted + ".metadata")
    assert status == 200 and body.startswith(b"Metadata-Version:")
    status, ctype, _ = get(url + "cu130/causal-conv1d/index.json")
    assert (status, ctype) == (200, JSON_V1)


def test_landing_missing_and_escape(url: str) -> None:
    status, ctype, body = get(url, JSON_V1)
    assert (status, ctype) == (200, "text/html; charset=utf-8") and b"<h1>" in body
    assert get(url + "cu130/nothing/")[0] == 404
    assert get(url + "cu130/causal-conv1d/../../../../../etc/passwd")[0] == 404
    assert get(url + "%2e%2e/%2e%2e/etc/passwd")[0] == 404


def test_folder_without_slash_redirects(url: str) -> None:
    # urllib follows the redirect; the page must come back from the slash form.
    request = urllib.request.Request(url + "cu130/causal-conv1d")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.url.endswith("/cu130/causal-conv1d/")


def test_head_has_no_body(url: str) -> None:
    status, _, body = get(url + "cu130/causal-conv1d/", method="HEAD")
    assert status == 200 and body == b""
